from __future__ import annotations

from .common import BOOL, DESCRIPTION, IP, NAME, NULLABLE_UUID, PROJECT, TAGS, UUID, envelope

_NETWORK = {
    "name": NAME, "description": DESCRIPTION, "admin_state_up": BOOL, "shared": BOOL, "router:external": BOOL,
    "is_default": BOOL, "port_security_enabled": BOOL, "mtu": {"type": "integer", "minimum": 68},
    "provider:network_type": {"type": "string"}, "provider:physical_network": {"type": ["string", "null"]},
    "provider:segmentation_id": {"type": ["integer", "string", "null"], "pattern": "^[0-9]+$"},
    "availability_zone_hints": {"type": "array", "items": {"type": "string"}}, "dns_domain": {"type": "string"},
    "tags": TAGS, "qos_policy_id": {"type": "null"}, **PROJECT,
}
CREATE_NETWORK = envelope("network", _NETWORK)
UPDATE_NETWORK = envelope("network", {k: v for k, v in _NETWORK.items() if k not in ("project_id", "tenant_id")})

_POOLS = {"type": ["array", "null"], "items": {"type": "object", "properties": {"start": IP, "end": IP},
                                               "required": ["start", "end"], "additionalProperties": False}}
_ROUTES = {"type": ["array", "null"], "items": {"type": "object", "properties": {
    "destination": {"type": "string"}, "nexthop": IP}, "required": ["destination", "nexthop"],
    "additionalProperties": False}}
_IPV6_MODE = {"enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None]}
_SUBNET = {
    "name": NAME, "description": DESCRIPTION, "network_id": UUID, "ip_version": {"enum": [4, 6]},
    "cidr": {"type": ["string", "null"], "maxLength": 64}, "gateway_ip": {"type": ["string", "null"]},
    "enable_dhcp": BOOL, "allocation_pools": _POOLS, "dns_nameservers": {"type": ["array", "null"], "items": IP},
    "host_routes": _ROUTES, "ipv6_ra_mode": _IPV6_MODE, "ipv6_address_mode": _IPV6_MODE,
    "subnetpool_id": NULLABLE_UUID, "use_default_subnetpool": BOOL,
    "prefixlen": {"type": ["integer", "string"], "pattern": "^[0-9]+$"}, "tags": TAGS,
    "service_types": {"type": "array", "maxItems": 0}, "segment_id": {"type": "null"}, **PROJECT,
}
CREATE_SUBNET = envelope("subnet", _SUBNET, ("network_id",))
UPDATE_SUBNET = envelope("subnet", {k: v for k, v in _SUBNET.items() if k not in ("project_id", "tenant_id")})

_PREFIXLEN = {"type": ["integer", "string", "null"], "pattern": "^[0-9]+$"}
_POOL = {
    "name": NAME, "description": DESCRIPTION, "prefixes": {"type": "array", "items": {"type": "string"},
                                                           "minItems": 1},
    "default_prefixlen": _PREFIXLEN, "min_prefixlen": _PREFIXLEN, "max_prefixlen": _PREFIXLEN, "shared": BOOL,
    "is_default": BOOL, "default_quota": {"type": ["integer", "null"]}, "address_scope_id": {"type": "null"},
    "tags": TAGS, **PROJECT,
}
CREATE_SUBNETPOOL = envelope("subnetpool", _POOL, ("prefixes",))
UPDATE_SUBNETPOOL = envelope("subnetpool", {k: v for k, v in _POOL.items() if k not in ("project_id", "tenant_id",
                                                                                         "shared")})
