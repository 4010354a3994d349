from __future__ import annotations

from .common import BOOL, DESCRIPTION, FIXED_IPS, IP, NAME, PROJECT, TAGS, UUID, envelope

_PAIRS = {"type": ["array", "null"], "items": {"type": "object", "properties": {
    "ip_address": IP, "mac_address": {"type": "string", "pattern": "^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$"}},
    "required": ["ip_address"], "additionalProperties": False}}
_PORT = {
    "name": NAME, "description": DESCRIPTION, "network_id": UUID, "admin_state_up": BOOL,
    "mac_address": {"type": "string", "pattern": "^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$"},
    "fixed_ips": FIXED_IPS, "device_id": {"type": ["string", "null"], "maxLength": 255},
    "device_owner": {"type": ["string", "null"], "maxLength": 255},
    "binding:host_id": {"type": ["string", "null"], "maxLength": 255},
    "binding:vnic_type": {"enum": ["normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder",
                                   "smart-nic", "remote-managed", "vdpa"]},
    "binding:profile": {"type": ["object", "null"]}, "allowed_address_pairs": _PAIRS,
    "port_security_enabled": {"type": ["boolean", "null"]},
    "security_groups": {"type": ["array", "null"], "items": UUID}, "tags": TAGS,
    "extra_dhcp_opts": {"type": "array", "maxItems": 0}, "qos_policy_id": {"type": "null"}, **PROJECT,
}
CREATE_PORT = envelope("port", _PORT, ("network_id",))
UPDATE_PORT = envelope("port", {k: v for k, v in _PORT.items() if k not in ("project_id", "tenant_id")})
