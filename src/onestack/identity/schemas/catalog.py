from .common import BOOLEAN, DESCRIPTION, ID, NULLABLE_ID, envelope

_REGION = {"id": {"type": "string", "minLength": 1, "maxLength": 255}, "description": DESCRIPTION,
           "parent_region_id": NULLABLE_ID}
CREATE_REGION = envelope("region", {"type": "object", "properties": _REGION})
UPDATE_REGION = envelope("region", {"type": "object", "properties": _REGION, "minProperties": 1})
_SERVICE = {"type": {"type": "string", "minLength": 1, "maxLength": 255},
            "name": {"type": "string", "maxLength": 255}, "description": DESCRIPTION, "enabled": BOOLEAN}
CREATE_SERVICE = envelope("service", {"type": "object", "properties": _SERVICE, "required": ["type"]})
UPDATE_SERVICE = envelope("service", {"type": "object", "properties": _SERVICE, "minProperties": 1})
_ENDPOINT = {"service_id": ID, "interface": {"type": "string", "enum": ["public", "internal", "admin"]},
             "url": {"type": "string", "minLength": 1, "maxLength": 225, "pattern": "^[a-zA-Z0-9+.-]+:.+"},
             "region_id": NULLABLE_ID, "region": NULLABLE_ID, "enabled": BOOLEAN}
CREATE_ENDPOINT = envelope("endpoint", {"type": "object", "properties": _ENDPOINT,
                                        "required": ["service_id", "interface", "url"]})
UPDATE_ENDPOINT = envelope("endpoint", {"type": "object", "properties": _ENDPOINT, "minProperties": 1})
