from .common import DESCRIPTION, envelope

_ROLE = {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
         "minProperties": 1}
CREATE_APPLICATION_CREDENTIAL = envelope("application_credential", {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": DESCRIPTION,
        "secret": {"type": ["string", "null"], "minLength": 1},
        "expires_at": {"type": ["string", "null"]},
        "roles": {"type": "array", "items": _ROLE},
        "unrestricted": {"type": ["boolean", "null"]},
        "access_rules": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["name"],
})
