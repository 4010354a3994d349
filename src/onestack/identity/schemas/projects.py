from .common import BOOLEAN, DESCRIPTION, NULLABLE_ID, OPTIONS, TAGS, envelope

_NAME = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"[\S]+"}
_PROPS = {"name": _NAME, "description": DESCRIPTION, "enabled": BOOLEAN, "domain_id": NULLABLE_ID,
          "parent_id": NULLABLE_ID, "is_domain": BOOLEAN, "tags": TAGS, "options": OPTIONS}
CREATE_PROJECT = envelope("project", {"type": "object", "properties": _PROPS, "required": ["name"]})
UPDATE_PROJECT = envelope("project", {"type": "object", "properties": _PROPS, "minProperties": 1})
UPDATE_PROJECT_TAGS = {"type": "object", "properties": {"tags": TAGS}, "required": ["tags"]}
