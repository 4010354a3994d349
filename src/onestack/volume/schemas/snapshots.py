"""Snapshot request schemas."""

from .common import BOOLEAN, DESCRIPTION, METADATA, NAME

CREATE_SNAPSHOT = {
    "type": "object",
    "properties": {
        "snapshot": {
            "type": "object",
            "properties": {
                "volume_id": {"type": ["string", "null"], "maxLength": 36},
                "name": NAME,
                "display_name": NAME,
                "description": DESCRIPTION,
                "display_description": DESCRIPTION,
                "force": BOOLEAN,
                "metadata": METADATA,
            },
            "required": ["volume_id"],
        },
    },
    "required": ["snapshot"],
}

UPDATE_SNAPSHOT = {
    "type": "object",
    "properties": {"snapshot": {"type": "object", "properties": {
        "name": NAME, "display_name": NAME, "description": DESCRIPTION, "display_description": DESCRIPTION},
        "additionalProperties": False}},
    "required": ["snapshot"],
}
