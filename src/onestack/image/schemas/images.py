"""The image JSON schema: validates create/update values and is published at /v2/schemas/image(s)."""

from __future__ import annotations

import copy

from ..service.images import CONTAINER_FORMATS, DISK_FORMATS, VISIBILITIES
from ..states import STATUSES

UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")


def _ro(schema: dict) -> dict:
    return {**schema, "readOnly": True}


BASE_PROPERTIES: dict = {
    "id": {"type": "string", "description": "Image identifier (a UUID)", "pattern": UUID_PATTERN},
    "name": {"type": ["null", "string"], "description": "Display name", "maxLength": 255},
    "status": _ro({"type": "string", "description": "Image status", "enum": list(STATUSES)}),
    "visibility": {"type": "string", "description": "Who may see the image", "enum": list(VISIBILITIES)},
    "protected": {"type": "boolean", "description": "Protected images cannot be deleted"},
    "os_hidden": {"type": "boolean", "description": "Hidden images are left out of default listings"},
    "checksum": _ro({"type": ["null", "string"], "description": "MD5 of the image data", "maxLength": 32}),
    "os_hash_algo": _ro({"type": ["null", "string"], "description": "Algorithm of os_hash_value",
                         "maxLength": 64}),
    "os_hash_value": _ro({"type": ["null", "string"], "description": "Hex digest of the image data",
                          "maxLength": 128}),
    "owner": {"type": ["null", "string"], "description": "Owning project", "maxLength": 255},
    "size": _ro({"type": ["null", "integer"], "description": "Data size in bytes"}),
    "virtual_size": _ro({"type": ["null", "integer"], "description": "Virtual disk size in bytes"}),
    "container_format": {"type": ["null", "string"], "description": "Container format",
                         "enum": [None, *CONTAINER_FORMATS]},
    "disk_format": {"type": ["null", "string"], "description": "Disk format", "enum": [None, *DISK_FORMATS]},
    "created_at": _ro({"type": "string", "description": "Creation time"}),
    "updated_at": _ro({"type": "string", "description": "Last modification time"}),
    "tags": {"type": "array", "description": "Tags", "items": {"type": "string", "maxLength": 255}},
    "direct_url": _ro({"type": "string", "description": "Location of the data in its store"}),
    "min_ram": {"type": "integer", "description": "RAM (MB) needed to boot the image"},
    "min_disk": {"type": "integer", "description": "Disk (GB) needed to boot the image"},
    "self": _ro({"type": "string", "description": "The image's URL"}),
    "file": _ro({"type": "string", "description": "The image data's URL"}),
    "stores": _ro({"type": "string", "description": "Comma-separated stores holding the data"}),
    "schema": _ro({"type": "string", "description": "The image schema's URL"}),
    "locations": {
        "type": "array",
        "items": {"type": "object", "properties": {"url": {"type": "string", "maxLength": 255},
                                                   "metadata": {"type": "object"}},
                  "required": ["url", "metadata"]},
        "description": "Locations of the data (not shown by this deployment)",
    },
}

# Well-known custom properties, as upstream's default schema-image.json declares them.
CUSTOM_PROPERTIES: dict = {
    "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN,
                  "description": "Kernel image for AMI-style images"},
    "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN,
                   "description": "Ramdisk image for AMI-style images"},
    "instance_uuid": {"type": "string", "description": "Server this image was taken from (informational)"},
    "architecture": {"type": "string", "description": "CPU architecture"},
    "os_distro": {"type": "string", "description": "Operating system distribution"},
    "os_version": {"type": "string", "description": "Operating system version"},
    "description": {"type": "string", "description": "Description"},
    "cinder_encryption_key_id": {"type": "string", "description": "Encryption key for volumes from this image"},
    "cinder_encryption_key_deletion_policy": {"type": "string", "enum": ["on_image_deletion", "do_not_delete"],
                                              "description": "When to delete the encryption key"},
}

LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
         {"rel": "describedby", "href": "{schema}"}]


def image_schema() -> dict:
    properties = copy.deepcopy(BASE_PROPERTIES)
    properties.update({k: {**copy.deepcopy(v), "is_base": False} for k, v in CUSTOM_PROPERTIES.items()})
    return {"name": "image", "properties": properties, "additionalProperties": {"type": "string"},
            "links": copy.deepcopy(LINKS)}


def images_schema() -> dict:
    return {
        "name": "images",
        "properties": {"images": {"type": "array", "items": image_schema()},
                       "first": {"type": "string"}, "next": {"type": "string"}, "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


# Request validation: the published schema (custom properties must be strings).
CREATE_IMAGE = image_schema()

IMPORT_IMAGE = {
    "type": "object",
    "properties": {
        "method": {"type": "object", "properties": {"name": {"type": "string"}, "uri": {"type": "string"}}},
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
}
