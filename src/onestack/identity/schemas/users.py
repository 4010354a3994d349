from .common import BOOLEAN, DESCRIPTION, ID, NAME, NULLABLE_ID, OPTIONS, envelope

_PASSWORD = {"type": ["string", "null"], "maxLength": 4096}
_PROPS = {"name": NAME, "domain_id": ID, "enabled": BOOLEAN, "default_project_id": NULLABLE_ID,
          "description": DESCRIPTION, "password": _PASSWORD, "options": OPTIONS, "email": {"type": ["string", "null"]}}
CREATE_USER = envelope("user", {"type": "object", "properties": _PROPS, "required": ["name"]})
UPDATE_USER = envelope("user", {"type": "object", "properties": _PROPS, "minProperties": 1})
CHANGE_PASSWORD = envelope("user", {
    "type": "object",
    "properties": {"original_password": {"type": "string"}, "password": {"type": "string", "maxLength": 4096}},
    "required": ["original_password", "password"],
})
_GROUP_PROPS = {"name": {"type": "string", "minLength": 1, "maxLength": 64}, "domain_id": ID,
                "description": DESCRIPTION}
CREATE_GROUP = envelope("group", {"type": "object", "properties": _GROUP_PROPS, "required": ["name"]})
UPDATE_GROUP = envelope("group", {"type": "object", "properties": _GROUP_PROPS, "minProperties": 1})
