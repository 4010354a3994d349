from .common import DESCRIPTION, ID, NULLABLE_ID

_LIMIT = {"type": "integer", "minimum": -1, "maximum": 2147483647}
_REGISTERED = {"type": "object", "properties": {
    "service_id": ID, "region_id": NULLABLE_ID, "resource_name": {"type": "string", "minLength": 1, "maxLength": 255},
    "default_limit": _LIMIT, "description": DESCRIPTION}}
CREATE_REGISTERED_LIMITS = {"type": "object", "properties": {"registered_limits": {
    "type": "array", "minItems": 1,
    "items": {**_REGISTERED, "required": ["service_id", "resource_name", "default_limit"]}}},
    "required": ["registered_limits"]}
UPDATE_REGISTERED_LIMIT = {"type": "object", "properties": {"registered_limit": {**_REGISTERED, "minProperties": 1}},
                           "required": ["registered_limit"]}
_ONE = {"type": "object", "properties": {
    "project_id": NULLABLE_ID, "domain_id": NULLABLE_ID, "service_id": ID, "region_id": NULLABLE_ID,
    "resource_name": {"type": "string", "minLength": 1, "maxLength": 255}, "resource_limit": _LIMIT,
    "description": DESCRIPTION}}
CREATE_LIMITS = {"type": "object", "properties": {"limits": {
    "type": "array", "minItems": 1, "items": {**_ONE, "required": ["service_id", "resource_name", "resource_limit"]}}},
    "required": ["limits"]}
UPDATE_LIMIT = {"type": "object", "properties": {"limit": {
    "type": "object", "properties": {"resource_limit": _LIMIT, "description": DESCRIPTION}, "minProperties": 1}},
    "required": ["limit"]}
