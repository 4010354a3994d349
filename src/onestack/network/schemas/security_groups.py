from __future__ import annotations

from .common import BOOL, DESCRIPTION, NAME, NULLABLE_UUID, PROJECT, TAGS, UUID, envelope

_GROUP = {"name": NAME, "description": DESCRIPTION, "stateful": BOOL, "tags": TAGS, **PROJECT}
CREATE_SECURITY_GROUP = envelope("security_group", _GROUP)
UPDATE_SECURITY_GROUP = envelope("security_group", {k: _GROUP[k] for k in ("name", "description", "stateful",
                                                                           "tags")})
_PORT = {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"}
CREATE_SECURITY_GROUP_RULE = envelope("security_group_rule", {
    "security_group_id": UUID, "direction": {"enum": ["ingress", "egress"]},
    "ethertype": {"enum": ["IPv4", "IPv6"]}, "protocol": {"type": ["string", "integer", "null"]},
    "port_range_min": _PORT, "port_range_max": _PORT, "remote_ip_prefix": {"type": ["string", "null"]},
    "remote_group_id": NULLABLE_UUID, "remote_address_group_id": {"type": "null"}, "description": DESCRIPTION,
    **PROJECT}, ("security_group_id", "direction"))
