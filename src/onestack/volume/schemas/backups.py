"""Backup request schemas."""

from .common import BOOLEAN, DESCRIPTION, METADATA, NAME, NULLABLE_UUID, UUID

CREATE_BACKUP = {
    "type": "object",
    "properties": {
        "backup": {
            "type": "object",
            "properties": {
                "volume_id": UUID,
                "container": {"type": ["string", "null"], "maxLength": 255},
                "name": NAME,
                "description": DESCRIPTION,
                "incremental": BOOLEAN,
                "force": BOOLEAN,
                "snapshot_id": NULLABLE_UUID,
                "metadata": METADATA,
                "availability_zone": {"type": ["string", "null"], "maxLength": 255},
            },
            "required": ["volume_id"],
            "additionalProperties": False,
        },
    },
    "required": ["backup"],
    "additionalProperties": False,
}

UPDATE_BACKUP = {
    "type": "object",
    "properties": {"backup": {"type": "object", "properties": {
        "name": NAME, "description": DESCRIPTION, "metadata": METADATA}, "additionalProperties": False}},
    "required": ["backup"],
}

RESTORE_BACKUP = {
    "type": "object",
    "properties": {"restore": {"type": ["object", "null"], "properties": {
        "volume_id": NULLABLE_UUID, "name": NAME}, "additionalProperties": False}},
    "required": ["restore"],
}
