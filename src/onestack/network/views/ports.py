from __future__ import annotations

import hashlib

from onestack.core.config import Settings

from .common import standard


def kernel_prefix(settings: Settings) -> str:
    """The prefix of every kernel object the network data plane of this cloud creates (<= 4 characters)."""
    if settings.network.prefix:
        return settings.network.prefix[:4]
    return "o" + hashlib.sha1(str(settings.data_path).encode()).hexdigest()[:3]


def devname(port_id: str, prefix: str) -> str:
    """The host-side device of a port (the tap or veth end compute creates, the network agent attaches):
    ``<prefix>t`` + the port id, cut to 15 characters (IFNAMSIZ), so it carries the cloud's kernel object
    prefix as every other device of the data plane does and parallel clouds never collide (upstream's
    linuxbridge uses ``tap`` + 11 id characters on a host it owns alone)."""
    return f"{prefix}t{port_id}"[:15]


def port(p, admin: bool = True) -> dict:
    out = standard(p)
    out.update({
        "network_id": p.network_id, "mac_address": p.mac_address, "admin_state_up": p.admin_state_up,
        "status": p.status, "device_id": p.device_id, "device_owner": p.device_owner,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in p.fixed_ips],
        "allowed_address_pairs": [{"ip_address": a["ip_address"], "mac_address": a.get("mac_address") or
                                   p.mac_address} for a in p.allowed_address_pairs or []],
        "extra_dhcp_opts": [], "security_groups": p.security_group_ids,
        "port_security_enabled": p.port_security_enabled, "ip_allocation": "immediate",
        "binding:vnic_type": p.vnic_type,
    })
    if admin:
        bound = bool(p.host_id)
        out.update({
            "binding:host_id": p.host_id, "binding:profile": dict(p.profile or {}),
            "binding:vif_type": "bridge" if bound else "unbound",
            # the device name depends on the host's prefix: compute gets it from NetworkClient.vif_name
            "binding:vif_details": {"port_filter": True, "connectivity": "l2"} if bound else {},
        })
    return out
