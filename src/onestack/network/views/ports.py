from __future__ import annotations

from .common import standard


def devname(port_id: str) -> str:
    """The host-side device of a port, as upstream's linuxbridge: ``tap`` + the first 11 id characters."""
    return ("tap" + port_id)[:14]


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
            "binding:vif_details": {"port_filter": True, "connectivity": "l2", "devname": devname(p.id)}
            if bound else {},
        })
    return out
