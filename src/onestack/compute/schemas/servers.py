"""Server request schemas (Nova's, per microversion)."""

from __future__ import annotations

import copy

_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?! )[^\x00-\x1f]*(?<! )$"}
_NAME_ANY = {"type": "string", "minLength": 1, "maxLength": 255}
_UUID = {"type": "string", "pattern": "^[0-9a-fA-F-]{32,36}$"}
_METADATA = {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string",
                                                                                      "maxLength": 255}},
             "additionalProperties": False}
_TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_NETWORK = {"type": "object", "properties": {"uuid": {"type": "string"}, "port": {"type": ["string", "null"]},
                                             "fixed_ip": {"type": "string"}, "tag": _TAG},
            "additionalProperties": False}
_BDM = {"type": "object", "properties": {
    "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
    "destination_type": {"type": "string", "enum": ["local", "volume"]}, "uuid": {"type": "string"},
    "boot_index": {"type": ["integer", "string", "null"]}, "volume_size": {"type": ["integer", "string", "null"]},
    "delete_on_termination": {"type": ["boolean", "string"]}, "device_name": {"type": ["string", "null"]},
    "guest_format": {"type": ["string", "null"]}, "disk_bus": {"type": ["string", "null"]},
    "device_type": {"type": ["string", "null"]}, "tag": _TAG, "volume_type": {"type": ["string", "null"]},
    "no_device": {}}, "additionalProperties": False}

_SERVER_PROPS = {
    "name": _NAME,
    "imageRef": {"type": ["string", "null"], "maxLength": 255},
    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
    "adminPass": {"type": "string"},
    "metadata": _METADATA,
    "networks": {"oneOf": [{"type": "array", "items": _NETWORK}, {"type": "string", "enum": ["auto", "none"]}]},
    "key_name": _NAME_ANY,
    "user_data": {"type": "string", "maxLength": 65535},
    "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
    "security_groups": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}},
                                                   "additionalProperties": False}},
    "block_device_mapping_v2": {"type": "array", "items": _BDM},
    "block_device_mapping": {"type": "array"},
    "config_drive": {"type": ["boolean", "string", "null"]},
    "min_count": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1},
    "max_count": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1},
    "return_reservation_id": {"type": ["boolean", "string"]},
    "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
    "accessIPv4": {"type": "string"},
    "accessIPv6": {"type": "string"},
    "personality": {"type": "array"},
}

CREATE_SERVER = {
    "type": "object",
    "properties": {
        "server": {"type": "object", "properties": _SERVER_PROPS, "required": ["name", "flavorRef"],
                   "additionalProperties": False},
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
    "required": ["server"],
    "additionalProperties": False,
}


def _derive(base: dict, add: dict | None = None, drop: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> dict:
    schema = copy.deepcopy(base)
    server = schema["properties"]["server"]
    server["properties"].update(add or {})
    for key in drop:
        server["properties"].pop(key, None)
    server["required"] = sorted(set(server["required"]) | set(required))
    return schema


CREATE_SERVER_V2_19 = _derive(CREATE_SERVER, {"description": _DESCRIPTION})
CREATE_SERVER_V2_37 = _derive(CREATE_SERVER_V2_19, required=("networks",))
CREATE_SERVER_V2_52 = _derive(CREATE_SERVER_V2_37, {"tags": {"type": "array", "items": _TAG, "maxItems": 50}})
CREATE_SERVER_V2_57 = _derive(CREATE_SERVER_V2_52, drop=("personality",))
CREATE_SERVER_V2_74 = _derive(CREATE_SERVER_V2_57, {"host": {"type": "string"},
                                                     "hypervisor_hostname": {"type": "string"}})
CREATE_SERVER_V2_90 = _derive(CREATE_SERVER_V2_74, {"hostname": {"type": "string", "minLength": 1,
                                                                 "maxLength": 63}})
CREATE_SERVER_V2_94 = _derive(CREATE_SERVER_V2_90, {"hostname": {"type": "string", "minLength": 1,
                                                                 "maxLength": 255}})

_UPDATE_PROPS = {"name": _NAME, "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"},
                 "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]}}
UPDATE_SERVER = {"type": "object", "properties": {"server": {"type": "object", "properties": _UPDATE_PROPS,
                                                             "additionalProperties": False}},
                 "required": ["server"], "additionalProperties": False}
UPDATE_SERVER_V2_19 = copy.deepcopy(UPDATE_SERVER)
UPDATE_SERVER_V2_19["properties"]["server"]["properties"]["description"] = _DESCRIPTION
UPDATE_SERVER_V2_90 = copy.deepcopy(UPDATE_SERVER_V2_19)
UPDATE_SERVER_V2_90["properties"]["server"]["properties"]["hostname"] = {"type": "string", "minLength": 1,
                                                                         "maxLength": 255}

METADATA = {"type": "object", "properties": {"metadata": _METADATA}, "required": ["metadata"],
            "additionalProperties": False}
METADATA_ITEM = {"type": "object", "properties": {"meta": {**_METADATA, "minProperties": 1, "maxProperties": 1}},
                 "required": ["meta"], "additionalProperties": False}
TAGS = {"type": "object", "properties": {"tags": {"type": "array", "items": _TAG}}, "required": ["tags"],
        "additionalProperties": False}

REBOOT = {"type": "object", "properties": {"reboot": {"type": "object", "properties": {
    "type": {"type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
    "required": ["type"], "additionalProperties": False}}, "required": ["reboot"]}
REBUILD = {"type": "object", "properties": {"rebuild": {"type": "object", "properties": {
    "imageRef": {"type": "string"}, "name": _NAME, "adminPass": {"type": "string"}, "metadata": _METADATA,
    "preserve_ephemeral": {"type": "boolean"}, "OS-DCF:diskConfig": {"type": "string"},
    "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"}, "personality": {"type": "array"},
    "description": _DESCRIPTION, "key_name": {"type": ["string", "null"]}, "user_data": {"type": ["string", "null"]},
    "trusted_image_certificates": {"type": ["array", "null"]}, "hostname": {"type": "string"}},
    "required": ["imageRef"], "additionalProperties": False}}, "required": ["rebuild"]}
RESIZE = {"type": "object", "properties": {"resize": {"type": "object", "properties": {
    "flavorRef": {"type": ["string", "integer"], "minLength": 1}, "OS-DCF:diskConfig": {"type": "string"}},
    "required": ["flavorRef"], "additionalProperties": False}}, "required": ["resize"]}
CREATE_IMAGE = {"type": "object", "properties": {"createImage": {"type": "object", "properties": {
    "name": _NAME, "metadata": {"type": "object"}}, "required": ["name"], "additionalProperties": False}},
    "required": ["createImage"]}
RESET_STATE = {"type": "object", "properties": {"os-resetState": {"type": "object", "properties": {
    "state": {"type": "string", "enum": ["active", "error"]}}, "required": ["state"],
    "additionalProperties": False}}, "required": ["os-resetState"]}

# multinic (removed at 2.44): addFixedIp / removeFixedIp
ADD_FIXED_IP = {"type": "object", "properties": {"addFixedIp": {
    "type": "object", "properties": {"networkId": {"type": ["string", "number"], "minLength": 1, "maxLength": 36}},
    "required": ["networkId"], "additionalProperties": False}}, "required": ["addFixedIp"],
    "additionalProperties": False}
REMOVE_FIXED_IP = {"type": "object", "properties": {"removeFixedIp": {
    "type": "object", "properties": {"address": {"type": "string"}},  # checked as an address by the handler
    "required": ["address"], "additionalProperties": False}}, "required": ["removeFixedIp"],
    "additionalProperties": False}
