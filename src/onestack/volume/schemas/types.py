"""Volume type request schemas."""

from .common import BOOLEAN, DESCRIPTION

_EXTRA_SPECS = {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
    "type": ["string", "boolean", "integer", "number"]}}, "additionalProperties": False}

CREATE_TYPE = {
    "type": "object",
    "properties": {
        "volume_type": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": DESCRIPTION,
                "os-volume-type-access:is_public": BOOLEAN,
                "extra_specs": _EXTRA_SPECS,
            },
            "required": ["name"],
            "additionalProperties": False,
        },
    },
    "required": ["volume_type"],
    "additionalProperties": False,
}

UPDATE_TYPE = {
    "type": "object",
    "properties": {
        "volume_type": {
            "type": "object",
            "properties": {
                "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
                "description": DESCRIPTION,
                "is_public": BOOLEAN,
            },
            "additionalProperties": False,
            "anyOf": [{"required": ["name"]}, {"required": ["description"]}, {"required": ["is_public"]}],
        },
    },
    "required": ["volume_type"],
    "additionalProperties": False,
}

EXTRA_SPECS = {"type": "object", "properties": {"extra_specs": _EXTRA_SPECS}, "required": ["extra_specs"],
               "additionalProperties": False}
EXTRA_SPEC_ITEM = {**_EXTRA_SPECS, "minProperties": 1, "maxProperties": 1}
PROJECT_ACCESS = {"type": "object", "properties": {"project": {"type": "string", "minLength": 1, "maxLength": 255}},
                  "required": ["project"]}
DEFAULT_TYPE = {"type": "object", "properties": {"default_type": {
    "type": "object", "properties": {"volume_type": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["volume_type"]}}, "required": ["default_type"]}
