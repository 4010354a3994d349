"""Volume request schemas."""

from .common import BOOLEAN, DESCRIPTION, METADATA, METADATA_REQUIRED, NAME, NULLABLE_SIZE, NULLABLE_UUID, SIZE

CREATE_VOLUME = {
    "type": "object",
    "properties": {
        "volume": {
            "type": "object",
            "properties": {
                "size": NULLABLE_SIZE,
                "name": NAME,
                "display_name": NAME,
                "description": DESCRIPTION,
                "display_description": DESCRIPTION,
                "volume_type": {"type": ["string", "null"], "maxLength": 255},
                "availability_zone": {"type": ["string", "null"], "maxLength": 255},
                "imageRef": {"type": ["string", "null"], "maxLength": 255},
                "image_id": {"type": ["string", "null"], "maxLength": 255},
                "snapshot_id": NULLABLE_UUID,
                "source_volid": NULLABLE_UUID,
                "backup_id": NULLABLE_UUID,
                "consistencygroup_id": NULLABLE_UUID,
                "group_id": NULLABLE_UUID,
                "metadata": METADATA,
                "multiattach": BOOLEAN,
            },
        },
        "OS-SCH-HNT:scheduler_hints": {"type": ["object", "null"]},
    },
    "required": ["volume"],
}

UPDATE_VOLUME = {
    "type": "object",
    "properties": {
        "volume": {
            "type": "object",
            "properties": {"name": NAME, "display_name": NAME, "description": DESCRIPTION,
                           "display_description": DESCRIPTION, "metadata": METADATA},
            "additionalProperties": False,
        },
    },
    "required": ["volume"],
    "additionalProperties": False,
}

METADATA_BODY = {"type": "object", "properties": {"metadata": METADATA_REQUIRED}, "required": ["metadata"],
                 "additionalProperties": False}
META_ITEM = {"type": "object", "properties": {"meta": {**METADATA_REQUIRED, "minProperties": 1,
                                                       "maxProperties": 1}},
             "required": ["meta"], "additionalProperties": False}

EXTEND = {"type": "object", "properties": {"new_size": SIZE}, "required": ["new_size"]}
SET_BOOTABLE = {"type": "object", "properties": {"bootable": BOOLEAN}, "required": ["bootable"]}
READONLY = {"type": "object", "properties": {"readonly": BOOLEAN}, "required": ["readonly"]}
RESET_STATUS = {"type": "object", "properties": {"status": {"type": "string"}, "attach_status": {"type": "string"},
                                                 "migration_status": {"type": "string"}}}
RETYPE = {"type": "object", "properties": {"new_type": {"type": "string", "minLength": 1, "maxLength": 255},
                                           "migration_policy": {"type": ["string", "null"],
                                                                "enum": ["on-demand", "never", None]}},
          "required": ["new_type"]}
UPLOAD_IMAGE = {
    "type": "object",
    "properties": {
        "image_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "force": BOOLEAN,
        "disk_format": {"type": "string", "enum": ["raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"]},
        "container_format": {"type": "string", "enum": ["bare", "ovf"]},
        "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
        "protected": BOOLEAN,
    },
    "required": ["image_name"],
}
ATTACH = {
    "type": "object",
    "properties": {
        "instance_uuid": {"type": ["string", "null"]},
        "mountpoint": {"type": ["string", "null"], "maxLength": 255},
        "host_name": {"type": ["string", "null"], "maxLength": 255},
        "mode": {"type": "string", "enum": ["rw", "ro"]},
    },
}
DETACH = {"type": ["object", "null"], "properties": {"attachment_id": {"type": ["string", "null"]}}}
IMAGE_METADATA = {"type": "object", "properties": {"metadata": METADATA_REQUIRED}, "required": ["metadata"]}
UNSET_IMAGE_METADATA = {"type": "object", "properties": {"key": {"type": "string", "minLength": 1,
                                                                 "maxLength": 255}}, "required": ["key"]}
REVERT = {"type": "object", "properties": {"snapshot_id": {"type": "string", "minLength": 1, "maxLength": 36}},
          "required": ["snapshot_id"]}
