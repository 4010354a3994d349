from .common import BOOLEAN, DESCRIPTION, ID, OPTIONS, TAGS, envelope

_PROPS = {"name": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"[\S]+"},
          "description": DESCRIPTION, "enabled": BOOLEAN, "options": OPTIONS, "tags": TAGS, "explicit_domain_id": ID}
CREATE_DOMAIN = envelope("domain", {"type": "object", "properties": _PROPS, "required": ["name"]})
UPDATE_DOMAIN = envelope("domain", {"type": "object", "properties": _PROPS, "minProperties": 1})
