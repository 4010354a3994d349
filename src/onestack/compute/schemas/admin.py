"""Request schemas of server groups, services and aggregates (Nova's, per microversion)."""

_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?! )[^\x00-\x1f]*(?<! )$"}

CREATE_GROUP = {"type": "object", "properties": {"server_group": {"type": "object", "properties": {
    "name": _NAME, "policies": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
        "type": "string", "enum": ["affinity", "anti-affinity"]}}},
    "required": ["name", "policies"], "additionalProperties": False}}, "required": ["server_group"],
    "additionalProperties": False}
CREATE_GROUP_V2_15 = {"type": "object", "properties": {"server_group": {"type": "object", "properties": {
    "name": _NAME, "policies": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
        "type": "string", "enum": ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]}}},
    "required": ["name", "policies"], "additionalProperties": False}}, "required": ["server_group"],
    "additionalProperties": False}
CREATE_GROUP_V2_64 = {"type": "object", "properties": {"server_group": {"type": "object", "properties": {
    "name": _NAME, "policy": {"type": "string", "enum": ["affinity", "anti-affinity", "soft-affinity",
                                                        "soft-anti-affinity"]},
    "rules": {"type": "object", "properties": {"max_server_per_host": {
        "type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1}}, "additionalProperties": False}},
    "required": ["name", "policy"], "additionalProperties": False}}, "required": ["server_group"],
    "additionalProperties": False}

UPDATE_SERVICE_V2_53 = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["enabled", "disabled"]},
    "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    "forced_down": {"type": "boolean"}}, "additionalProperties": False}
SERVICE_HOST = {"type": "object", "properties": {"host": {"type": "string"}, "binary": {"type": "string"},
                                                 "disabled_reason": {"type": "string"},
                                                 "forced_down": {"type": "boolean"}},
                "required": ["host", "binary"]}

_ZONE = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
CREATE_AGGREGATE = {"type": "object", "properties": {"aggregate": {"type": "object", "properties": {
    "name": _NAME, "availability_zone": _ZONE}, "required": ["name"], "additionalProperties": False}},
    "required": ["aggregate"], "additionalProperties": False}
UPDATE_AGGREGATE = {"type": "object", "properties": {"aggregate": {"type": "object", "properties": {
    "name": _NAME, "availability_zone": _ZONE}, "additionalProperties": False, "minProperties": 1}},
    "required": ["aggregate"], "additionalProperties": False}
AGGREGATE_HOST = {"type": "object", "properties": {"host": {"type": "string", "minLength": 1, "maxLength": 255}},
                  "required": ["host"], "additionalProperties": False}
AGGREGATE_METADATA = {"type": "object", "properties": {"metadata": {"type": "object", "patternProperties": {
    "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "null"], "maxLength": 255}}, "additionalProperties": False}},
    "required": ["metadata"], "additionalProperties": False}
