"""Schema pieces shared by networking request bodies."""

from __future__ import annotations

NAME = {"type": "string", "maxLength": 255}
DESCRIPTION = {"type": "string", "maxLength": 255}
UUID = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_UUID = {"type": ["string", "null"], "maxLength": 64}
BOOL = {"type": "boolean"}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}}
PROJECT = {"project_id": UUID, "tenant_id": UUID}
IP = {"type": "string", "maxLength": 64}
FIXED_IPS = {"type": ["array", "null"], "items": {"type": "object", "properties": {
    "subnet_id": UUID, "ip_address": IP}, "additionalProperties": False}}


def envelope(key: str, properties: dict, required: tuple[str, ...] = ()) -> dict:
    inner = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        inner["required"] = list(required)
    return {"type": "object", "properties": {key: inner}, "required": [key]}
