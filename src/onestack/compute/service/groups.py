"""Server groups: (anti-)affinity policies the scheduler enforces."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.uow import UnitOfWork

from ..model import Instance, ServerGroup, ServerGroupMember
from . import quotas

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def create_group(uow: UnitOfWork, project_id: str, user_id: str, name: str, policy: str, rules: dict,
                 limits: quotas.Limits) -> ServerGroup:
    if policy not in POLICIES:
        raise BadRequest(f"Invalid input: policy {policy} is not one of {', '.join(POLICIES)}")
    if rules and policy != "anti-affinity":
        raise BadRequest("Only anti-affinity policy supports rules.")
    quotas.check_server_groups(uow, limits, project_id)
    row = ServerGroup(name=name, project_id=project_id, user_id=user_id, policy=policy, rules=dict(rules or {}))
    uow.session.add(row)
    uow.session.flush()
    return row


def get_group(uow: UnitOfWork, group_id: str, project_id: str | None) -> ServerGroup:
    row = uow.session.get(ServerGroup, group_id)
    if row is None or (project_id is not None and row.project_id != project_id):
        raise NotFound(f"Instance group {group_id} could not be found.")
    return row


def list_groups(uow: UnitOfWork, project_id: str | None) -> list[ServerGroup]:
    query = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
    if project_id is not None:
        query = query.where(ServerGroup.project_id == project_id)
    return list(uow.session.scalars(query))


def members(uow: UnitOfWork, group_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {g: [] for g in group_ids}
    rows = uow.session.execute(select(ServerGroupMember.group_id, ServerGroupMember.instance_id).join(
        Instance, Instance.id == ServerGroupMember.instance_id).where(
        ServerGroupMember.group_id.in_(group_ids), Instance.deleted.is_(False)))
    for group_id, instance_id in rows:
        out[group_id].append(instance_id)
    return out


def delete_group(uow: UnitOfWork, group_id: str, project_id: str | None) -> None:
    uow.session.delete(get_group(uow, group_id, project_id))
