"""Quotas (unified limits with per-project overrides), IP availability and tags."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import invalid, not_found
from . import ipam
from .common import QUOTA_DEFAULTS, Caller, Limits, bump, usage
from .networks import get_network


def show_quota(uow: UnitOfWork, limits: Limits, project_id: str) -> dict:
    return {name: limits.limit(uow, project_id, name) for name in QUOTA_DEFAULTS}


def default_quota(limits: Limits, project_id: str) -> dict:
    if limits.lookup is None:
        return dict(QUOTA_DEFAULTS)
    out = {}
    for name, value in QUOTA_DEFAULTS.items():
        looked = limits.lookup(name, "")
        out[name] = value if looked is None else looked
    return out


def quota_details(uow: UnitOfWork, limits: Limits, project_id: str) -> dict:
    return {name: {"limit": limits.limit(uow, project_id, name), "used": usage(uow, project_id, name),
                   "reserved": 0} for name in QUOTA_DEFAULTS}


def list_quotas(uow: UnitOfWork, limits: Limits) -> list[dict]:
    projects = sorted(set(uow.session.scalars(select(m.Quota.project_id))))
    return [{**show_quota(uow, limits, p), "project_id": p, "tenant_id": p} for p in projects]


def update_quota(uow: UnitOfWork, limits: Limits, project_id: str, values: dict) -> dict:
    for name, value in values.items():
        if name not in QUOTA_DEFAULTS:
            raise invalid(f"Unrecognized attribute(s) '{name}'")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise invalid(f"'{value}' is not an integer") from None
        if value < -1:
            raise invalid(f"'{value}' should be greater than or equal to -1")
        row = uow.session.get(m.Quota, (project_id, name))
        if row is None:
            uow.session.add(m.Quota(project_id=project_id, resource=name, limit=value))
        else:
            row.limit = value
    uow.session.flush()
    return show_quota(uow, limits, project_id)


def delete_quota(uow: UnitOfWork, project_id: str) -> None:
    uow.session.execute(delete(m.Quota).where(m.Quota.project_id == project_id))


# -- network IP availability -----------------------------------------------------------------------

def ip_availability(uow: UnitOfWork, net: m.Network) -> dict:
    used = dict(uow.session.execute(select(m.IPAllocation.subnet_id, func.count()).where(
        m.IPAllocation.network_id == net.id).group_by(m.IPAllocation.subnet_id)).all())
    subnets = []
    for s in net.subnets:
        total = ipam.pool_size(s)
        subnets.append({"subnet_id": s.id, "subnet_name": s.name, "cidr": s.cidr, "ip_version": s.ip_version,
                        "total_ips": total, "used_ips": used.get(s.id, 0)})
    return {"network_id": net.id, "network_name": net.name, "project_id": net.project_id,
            "tenant_id": net.project_id, "total_ips": sum(s["total_ips"] for s in subnets),
            "used_ips": sum(s["used_ips"] for s in subnets), "subnet_ip_availability": subnets}


def list_ip_availability(uow: UnitOfWork, caller: Caller) -> list[dict]:
    from .networks import list_networks

    return [ip_availability(uow, n) for n in list_networks(uow, caller) if not n.external or caller.is_admin
            or n.project_id == caller.project_id]


def show_ip_availability(uow: UnitOfWork, caller: Caller, network_id: str) -> dict:
    return ip_availability(uow, get_network(uow, caller, network_id))


# -- tags (standard-attr-tag) ----------------------------------------------------------------------

TAGGABLE = {"networks": m.Network, "subnets": m.Subnet, "ports": m.Port, "routers": m.Router,
            "floatingips": m.FloatingIP, "security-groups": m.SecurityGroup, "subnetpools": m.SubnetPool}
_KINDS = {"networks": "Network", "subnets": "Subnet", "ports": "Port", "routers": "Router",
          "floatingips": "FloatingIP", "security-groups": "SecurityGroup", "subnetpools": "SubnetPool"}


def tagged(uow: UnitOfWork, caller: Caller, collection: str, resource_id: str):
    model = TAGGABLE.get(collection)
    if model is None:
        from onestack.core.errors import NotFound

        raise NotFound("The resource could not be found.")
    row = uow.session.get(model, resource_id)
    if row is None:
        raise not_found(_KINDS[collection], resource_id)
    shared = getattr(row, "shared", False) or getattr(row, "external", False)
    if not caller.is_admin and row.project_id != caller.project_id and not shared:
        raise not_found(_KINDS[collection], resource_id)
    return row


def set_tags(row, tags: list[str]) -> list[str]:
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > 255 or "," in tag:
            raise invalid(f"Invalid tag {tag!r}")
    row.tags = sorted(set(tags))
    bump(row)
    return row.tags
