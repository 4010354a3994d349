from __future__ import annotations

from .common import BOOL, DESCRIPTION, FIXED_IPS, IP, NAME, NULLABLE_UUID, PROJECT, TAGS, UUID, envelope

_GATEWAY = {"type": ["object", "null"], "properties": {
    "network_id": UUID, "enable_snat": BOOL, "external_fixed_ips": FIXED_IPS, "qos_policy_id": {"type": "null"}},
    "additionalProperties": False}
_ROUTES = {"type": ["array", "null"], "items": {"type": "object", "properties": {
    "destination": {"type": "string"}, "nexthop": IP}, "required": ["destination", "nexthop"],
    "additionalProperties": False}}
_ROUTER = {
    "name": NAME, "description": DESCRIPTION, "admin_state_up": BOOL, "external_gateway_info": _GATEWAY,
    "routes": _ROUTES, "availability_zone_hints": {"type": "array", "items": {"type": "string"}}, "tags": TAGS,
    "distributed": {"enum": [False]}, "ha": {"enum": [False]}, **PROJECT,
}
CREATE_ROUTER = envelope("router", _ROUTER)
UPDATE_ROUTER = envelope("router", {k: v for k, v in _ROUTER.items() if k not in ("project_id", "tenant_id")})
INTERFACE = {"type": "object", "properties": {"subnet_id": UUID, "port_id": UUID}}

_FIP = {
    "floating_network_id": UUID, "floating_ip_address": IP, "subnet_id": NULLABLE_UUID, "port_id": NULLABLE_UUID,
    "fixed_ip_address": {"type": ["string", "null"]}, "description": DESCRIPTION, "tags": TAGS,
    "dns_name": {"type": "string", "maxLength": 0}, "dns_domain": {"type": "string", "maxLength": 0},
    "qos_policy_id": {"type": "null"}, **PROJECT,
}
CREATE_FLOATINGIP = envelope("floatingip", _FIP, ("floating_network_id",))
UPDATE_FLOATINGIP = envelope("floatingip", {k: _FIP[k] for k in ("port_id", "fixed_ip_address", "description",
                                                                  "tags")})
