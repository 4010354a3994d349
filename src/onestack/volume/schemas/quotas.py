"""Quota set request schema: integer limits (or numeric strings), -1 for unlimited."""

UPDATE_QUOTA_SET = {
    "type": "object",
    "properties": {"quota_set": {"type": "object", "additionalProperties": {
        "type": ["integer", "string"], "pattern": "^-?[0-9]+$"}}},
    "required": ["quota_set"],
}
