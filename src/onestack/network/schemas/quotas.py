from __future__ import annotations

UPDATE_QUOTA = {"type": "object", "properties": {"quota": {"type": "object", "additionalProperties": {
    "type": ["integer", "string"]}}}, "required": ["quota"]}
TAGS = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["tags"]}
