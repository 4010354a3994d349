from __future__ import annotations

from .common import standard


def network(net, admin: bool = True) -> dict:
    out = standard(net)
    out.update({
        "admin_state_up": net.admin_state_up, "status": net.status, "subnets": [s.id for s in net.subnets],
        "shared": net.shared, "router:external": net.external, "is_default": net.is_default, "mtu": net.mtu,
        "port_security_enabled": net.port_security_enabled, "availability_zone_hints":
            list(net.availability_zone_hints or []), "availability_zones": ["nova"], "ipv4_address_scope": None,
        "ipv6_address_scope": None, "l2_adjacency": True, "dns_domain": net.dns_domain or "",
    })
    if admin:
        out.update({"provider:network_type": net.network_type, "provider:physical_network": net.physical_network,
                    "provider:segmentation_id": net.segmentation_id})
    return out


def subnet(s) -> dict:
    out = standard(s)
    out.update({
        "network_id": s.network_id, "ip_version": s.ip_version, "cidr": s.cidr, "gateway_ip": s.gateway_ip,
        "enable_dhcp": s.enable_dhcp, "ipv6_ra_mode": s.ipv6_ra_mode, "ipv6_address_mode": s.ipv6_address_mode,
        "allocation_pools": list(s.allocation_pools or []), "dns_nameservers": list(s.dns_nameservers or []),
        "host_routes": list(s.host_routes or []), "subnetpool_id": s.subnetpool_id, "service_types": [],
        "segment_id": None,
    })
    return out


def subnetpool(p) -> dict:
    out = standard(p)
    out.update({
        "prefixes": list(p.prefixes), "default_prefixlen": p.default_prefixlen, "min_prefixlen": p.min_prefixlen,
        "max_prefixlen": p.max_prefixlen, "ip_version": p.ip_version, "shared": p.shared, "is_default": p.is_default,
        "default_quota": p.default_quota, "address_scope_id": None,
    })
    return out
