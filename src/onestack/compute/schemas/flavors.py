"""Flavor request schemas (Nova's, per microversion)."""

_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?! )[^\x00-\x1f]*(?<! )$"}
_INT = {"type": ["integer", "string"], "pattern": "^[0-9]+$"}
_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 65535}

CREATE_FLAVOR = {
    "type": "object",
    "properties": {"flavor": {
        "type": "object",
        "properties": {
            "name": _NAME,
            "id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                   "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
            "ram": {**_INT, "minimum": 1},
            "vcpus": {**_INT, "minimum": 1},
            "disk": {**_INT, "minimum": 0},
            "OS-FLV-EXT-DATA:ephemeral": {**_INT, "minimum": 0},
            "swap": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0},
            "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$", "minimum": 0},
            "os-flavor-access:is_public": {"type": ["boolean", "string"]},
        },
        "required": ["name", "ram", "vcpus", "disk"],
        "additionalProperties": False,
    }},
    "required": ["flavor"],
    "additionalProperties": False,
}

CREATE_FLAVOR_V2_55 = {
    **CREATE_FLAVOR,
    "properties": {"flavor": {
        **CREATE_FLAVOR["properties"]["flavor"],
        "properties": {**CREATE_FLAVOR["properties"]["flavor"]["properties"], "description": _DESCRIPTION},
    }},
}

UPDATE_FLAVOR_V2_55 = {
    "type": "object",
    "properties": {"flavor": {"type": "object", "properties": {"description": _DESCRIPTION},
                              "required": ["description"], "additionalProperties": False}},
    "required": ["flavor"],
    "additionalProperties": False,
}

_SPEC_KEY = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9-_:. ]+$"}
_SPEC_VALUE = {"type": ["string", "number", "boolean"], "maxLength": 255}

CREATE_EXTRA_SPECS = {
    "type": "object",
    "properties": {"extra_specs": {"type": "object", "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": _SPEC_VALUE},
                                   "additionalProperties": False}},
    "required": ["extra_specs"],
    "additionalProperties": False,
}

UPDATE_EXTRA_SPEC = {
    "type": "object",
    "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": _SPEC_VALUE},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
}

ADD_TENANT_ACCESS = {
    "type": "object",
    "properties": {"addTenantAccess": {"type": "object", "properties": {"tenant": {
        "type": "string", "minLength": 1, "maxLength": 255}}, "required": ["tenant"], "additionalProperties": False}},
    "required": ["addTenantAccess"],
}

REMOVE_TENANT_ACCESS = {
    "type": "object",
    "properties": {"removeTenantAccess": {"type": "object", "properties": {"tenant": {
        "type": "string", "minLength": 1, "maxLength": 255}}, "required": ["tenant"],
        "additionalProperties": False}},
    "required": ["removeTenantAccess"],
}
