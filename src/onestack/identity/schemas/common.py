"""Schema pieces shared by identity requests (keystone's parameter_types)."""

NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]+"}
ID = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
DESCRIPTION = {"type": ["string", "null"]}
BOOLEAN = {"type": "boolean"}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"},
        "maxItems": 80, "uniqueItems": True}
OPTIONS = {"type": "object"}


def envelope(key: str, body: dict) -> dict:
    return {"type": "object", "properties": {key: body}, "required": [key], "additionalProperties": True}
