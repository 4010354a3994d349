"""Transfer request schemas."""

from .common import BOOLEAN, NAME, UUID

CREATE_TRANSFER = {
    "type": "object",
    "properties": {"transfer": {"type": "object", "properties": {
        "volume_id": UUID, "name": NAME, "no_snapshots": BOOLEAN}, "required": ["volume_id"],
        "additionalProperties": False}},
    "required": ["transfer"],
}

ACCEPT_TRANSFER = {
    "type": "object",
    "properties": {"accept": {"type": "object", "properties": {"auth_key": {"type": ["string", "integer"]}},
                              "required": ["auth_key"]}},
    "required": ["accept"],
}
