"""Placement request schemas (placement's, per microversion)."""

_UUID = {"type": "string", "format": "uuid", "pattern": "^[0-9a-fA-F-]{32,36}$"}
_NAME = {"type": "string", "maxLength": 200, "minLength": 1}
_GEN = {"type": "integer"}
_RC = {"type": "string", "pattern": "^[A-Z0-9_]+$"}
_INT = {"type": "integer", "minimum": 0, "maximum": 2147483647}
_INT1 = {"type": "integer", "minimum": 1, "maximum": 2147483647}

CREATE_PROVIDER = {"type": "object", "properties": {"name": _NAME, "uuid": _UUID}, "required": ["name"],
                   "additionalProperties": False}
_PARENT = {"parent_provider_uuid": {"anyOf": [_UUID, {"type": "null"}]}}
CREATE_PROVIDER_V1_14 = {**CREATE_PROVIDER, "properties": {**CREATE_PROVIDER["properties"], **_PARENT}}
UPDATE_PROVIDER = {"type": "object", "properties": {"name": _NAME}, "required": ["name"], "additionalProperties": False}
UPDATE_PROVIDER_V1_14 = {**UPDATE_PROVIDER, "properties": {**UPDATE_PROVIDER["properties"], **_PARENT}}

INVENTORY_FIELDS = {"total": _INT1, "reserved": _INT, "min_unit": _INT1, "max_unit": _INT1, "step_size": _INT1,
                    "allocation_ratio": {"type": "number", "maximum": 3.40282e38, "exclusiveMinimum": True,
                                         "minimum": 0}}
_INVENTORY = {"type": "object", "properties": INVENTORY_FIELDS, "required": ["total"], "additionalProperties": False}

SET_INVENTORIES = {"type": "object", "properties": {
    "resource_provider_generation": _GEN,
    "inventories": {"type": "object", "patternProperties": {"^[A-Z0-9_]+$": _INVENTORY}, "additionalProperties": False},
}, "required": ["inventories", "resource_provider_generation"], "additionalProperties": False}

CREATE_INVENTORY = {"type": "object", "properties": {**INVENTORY_FIELDS, "resource_class": _RC,
                                                     "resource_provider_generation": _GEN},
                    "required": ["total", "resource_class"], "additionalProperties": False}
UPDATE_INVENTORY = {"type": "object", "properties": {**INVENTORY_FIELDS, "resource_provider_generation": _GEN},
                    "required": ["total", "resource_provider_generation"], "additionalProperties": False}

SET_TRAITS = {"type": "object", "properties": {
    "traits": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}},
    "resource_provider_generation": _GEN}, "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False}

SET_AGGREGATES = {"type": "array", "items": _UUID, "uniqueItems": True}
SET_AGGREGATES_V1_19 = {"type": "object", "properties": {"aggregates": SET_AGGREGATES,
                                                         "resource_provider_generation": _GEN},
                        "required": ["aggregates", "resource_provider_generation"], "additionalProperties": False}

_RESOURCES = {"type": "object", "minProperties": 1, "patternProperties": {"^[A-Z0-9_]+$": _INT1},
              "additionalProperties": False}
_ALLOC_DICT = {"type": "object", "patternProperties": {"^[0-9a-fA-F-]{32,36}$": {
    "type": "object", "properties": {"resources": _RESOURCES, "generation": {}}, "required": ["resources"],
    "additionalProperties": False}}, "additionalProperties": False}
_ALLOC_LIST = {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
    "resource_provider": {"type": "object", "properties": {"uuid": _UUID}, "required": ["uuid"]},
    "resources": _RESOURCES}, "required": ["resource_provider", "resources"], "additionalProperties": False}}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}

SET_ALLOCATIONS = {"type": "object", "properties": {"allocations": _ALLOC_LIST, "project_id": _ID, "user_id": _ID},
                   "required": ["allocations"], "additionalProperties": False}
SET_ALLOCATIONS_V1_12 = {"type": "object", "properties": {"allocations": _ALLOC_DICT, "project_id": _ID,
                                                          "user_id": _ID},
                         "required": ["allocations", "project_id", "user_id"], "additionalProperties": False}
SET_ALLOCATIONS_V1_28 = {**SET_ALLOCATIONS_V1_12, "properties": {**SET_ALLOCATIONS_V1_12["properties"],
                                                                 "consumer_generation": {"type": ["integer", "null"]}},
                         "required": ["allocations", "project_id", "user_id", "consumer_generation"]}
SET_ALLOCATIONS_V1_38 = {**SET_ALLOCATIONS_V1_28, "properties": {
    **SET_ALLOCATIONS_V1_28["properties"], "consumer_type": {"type": "string", "pattern": "^[A-Z0-9_]+$"}},
    "required": ["allocations", "project_id", "user_id", "consumer_generation", "consumer_type"]}

CREATE_CLASS = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$",
                                                          "maxLength": 255}},
                "required": ["name"], "additionalProperties": False}
