from __future__ import annotations

from .common import standard


def router(r, gw_port=None) -> dict:
    out = standard(r)
    info = None
    if r.gw_network_id:
        info = {"network_id": r.gw_network_id, "enable_snat": r.enable_snat, "external_fixed_ips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in (gw_port.fixed_ips if gw_port else [])]}
    out.update({
        "admin_state_up": r.admin_state_up, "status": r.status, "external_gateway_info": info,
        "routes": list(r.routes or []), "availability_zone_hints": list(r.availability_zone_hints or []),
        "availability_zones": ["nova"],
    })
    return out


def floatingip(f, port=None) -> dict:
    out = standard(f, with_name=False)
    details = None
    if port is not None:
        details = {"name": port.name, "network_id": port.network_id, "mac_address": port.mac_address,
                   "admin_state_up": port.admin_state_up, "status": port.status, "device_id": port.device_id,
                   "device_owner": port.device_owner}
    out.update({
        "floating_ip_address": f.floating_ip_address, "floating_network_id": f.floating_network_id,
        "router_id": f.router_id, "port_id": f.port_id, "fixed_ip_address": f.fixed_ip_address, "status": f.status,
        "port_details": details, "port_forwardings": [],
    })
    return out
