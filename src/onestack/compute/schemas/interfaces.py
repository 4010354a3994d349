"""``os-interface`` request schemas (Nova's, per microversion): ``net_id`` or ``port_id`` (or neither: the
project's only network), one requested fixed IP, and a device ``tag`` from 2.49."""

from __future__ import annotations

_UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                                      "[0-9a-fA-F]{12}$"}
_TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
_FIXED_IPS = {"type": "array", "minItems": 1, "maxItems": 1, "items": {
    "type": "object", "properties": {"ip_address": {"type": "string"}},  # checked as an address by the handler
    "required": ["ip_address"], "additionalProperties": False}}


def _body(props: dict) -> dict:
    return {"type": "object", "properties": {"interfaceAttachment": {
        "type": "object", "properties": props, "additionalProperties": False}}, "additionalProperties": False}


CREATE = _body({"net_id": _UUID, "port_id": _UUID, "fixed_ips": _FIXED_IPS})
CREATE_V2_49 = _body({"net_id": _UUID, "port_id": _UUID, "fixed_ips": _FIXED_IPS, "tag": _TAG})
