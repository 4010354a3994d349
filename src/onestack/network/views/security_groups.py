from __future__ import annotations

from .common import standard, ts


def rule(r) -> dict:
    return {
        "id": r.id, "security_group_id": r.security_group_id, "direction": r.direction, "ethertype": r.ethertype,
        "protocol": r.protocol, "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
        "remote_address_group_id": None, "tenant_id": r.project_id, "project_id": r.project_id,
        "description": r.description or "", "revision_number": r.revision, "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
    }


def security_group(g) -> dict:
    out = standard(g)
    out.update({"stateful": g.stateful, "shared": False, "security_group_rules": [rule(r) for r in g.rules]})
    return out
