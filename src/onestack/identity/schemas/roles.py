from .common import DESCRIPTION, NULLABLE_ID, OPTIONS, envelope

_PROPS = {"name": {"type": "string", "minLength": 1, "maxLength": 255}, "domain_id": NULLABLE_ID,
          "description": DESCRIPTION, "options": OPTIONS}
CREATE_ROLE = envelope("role", {"type": "object", "properties": _PROPS, "required": ["name"]})
UPDATE_ROLE = envelope("role", {"type": "object", "properties": _PROPS, "minProperties": 1})
