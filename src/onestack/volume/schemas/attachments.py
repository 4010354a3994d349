"""v3 attachment request schemas."""

from .common import NULLABLE_UUID, UUID

CREATE_ATTACHMENT = {
    "type": "object",
    "properties": {"attachment": {"type": "object", "properties": {
        "volume_uuid": UUID, "instance_uuid": NULLABLE_UUID, "connector": {"type": ["object", "null"]},
        "mode": {"type": "string", "enum": ["rw", "ro"]}}, "required": ["volume_uuid"]}},
    "required": ["attachment"],
}

UPDATE_ATTACHMENT = {
    "type": "object",
    "properties": {"attachment": {"type": "object", "properties": {"connector": {"type": "object"}},
                                  "required": ["connector"]}},
    "required": ["attachment"],
}
