"""Schema pieces shared by the block storage request schemas (Cinder's parameter types)."""

NAME = {"type": ["string", "null"], "maxLength": 255}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
UUID = {"type": "string", "minLength": 1, "maxLength": 36}
NULLABLE_UUID = {"type": ["string", "null"], "maxLength": 36}
BOOLEAN = {"type": ["boolean", "string"], "enum": [True, False, "true", "false", "True", "False", "1", "0", "t",
                                                  "f", "yes", "no", "y", "n", "on", "off"]}
SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1}
NULLABLE_SIZE = {"type": ["integer", "string", "null"], "pattern": "^[0-9]+$", "minimum": 1}
METADATA = {
    "type": ["object", "null"],
    "patternProperties": {"^.{1,255}$": {"type": ["string", "null"], "maxLength": 255}},
    "additionalProperties": False,
}
METADATA_REQUIRED = {**METADATA, "type": "object"}
