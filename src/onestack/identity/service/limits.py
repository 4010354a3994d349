"""Unified limits: registered (default) limits per service/resource and per-project overrides."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.errors import BadRequest, Conflict, Forbidden
from onestack.core.uow import UnitOfWork

from ..model import Limit, Project, RegisteredLimit
from .catalog import get_region, get_service
from .common import apply, flush_unique, get
from .resources import get_domain, get_project


def get_registered_limit(uow: UnitOfWork, limit_id: str) -> RegisteredLimit:
    return get(uow, RegisteredLimit, limit_id, "registered limit")


def list_registered_limits(uow: UnitOfWork, filters: dict) -> list[RegisteredLimit]:
    query = select(RegisteredLimit).order_by(RegisteredLimit.resource_name)
    for key in ("service_id", "region_id", "resource_name"):
        if key in filters:
            query = query.where(getattr(RegisteredLimit, key) == filters[key])
    return list(uow.session.scalars(query))


def _check_refs(uow: UnitOfWork, values: dict) -> None:
    if values.get("service_id"):
        get_service(uow, values["service_id"])
    if values.get("region_id"):
        get_region(uow, values["region_id"])
    if values.get("project_id"):
        get_project(uow, values["project_id"])
    if values.get("domain_id"):
        get_domain(uow, values["domain_id"])


def _same(model, values: dict, fields: tuple[str, ...]):
    """Rows equal on ``fields``, NULL matching NULL (unique constraints let NULLs repeat)."""
    query = select(model)
    for name in fields:
        column = getattr(model, name)
        value = values.get(name)
        query = query.where(column.is_(None) if value is None else column == value)
    return query


_REGISTERED_KEY = ("service_id", "region_id", "resource_name")
_LIMIT_KEY = ("project_id", "domain_id", "service_id", "region_id", "resource_name")


def create_registered_limits(uow: UnitOfWork, items: list[dict]) -> list[RegisteredLimit]:
    created = []
    for item in items:
        _check_refs(uow, item)
        if uow.session.scalars(_same(RegisteredLimit, item, _REGISTERED_KEY)).first() is not None:
            raise Conflict(f"Conflict occurred attempting to store registered limit - Duplicate entry: "
                           f"{item['resource_name']} is already registered for that service and region.")
        row = RegisteredLimit(service_id=item["service_id"], region_id=item.get("region_id"),
                              resource_name=item["resource_name"], default_limit=item["default_limit"],
                              description=item.get("description"))
        uow.session.add(row)
        flush_unique(uow, f"Duplicate entry: registered limit for {item['resource_name']} already exists.")
        created.append(row)
    return created


def update_registered_limit(uow: UnitOfWork, limit_id: str, changes: dict) -> RegisteredLimit:
    row = get_registered_limit(uow, limit_id)
    _check_refs(uow, changes)
    if set(changes) & {"service_id", "region_id", "resource_name"} and uow.session.scalars(
        select(Limit).where(Limit.service_id == row.service_id, Limit.resource_name == row.resource_name)
    ).first():
        raise Forbidden("Cannot change the service, region or resource of a registered limit that has limits.")
    apply(row, changes, ("service_id", "region_id", "resource_name", "default_limit", "description"))
    key = {name: getattr(row, name) for name in _REGISTERED_KEY}
    if uow.session.scalars(_same(RegisteredLimit, key, _REGISTERED_KEY).where(RegisteredLimit.id != row.id)).first():
        raise Conflict("Conflict occurred attempting to store registered limit - Duplicate entry.")
    flush_unique(uow, "Duplicate entry: registered limit already exists.")
    return row


def delete_registered_limit(uow: UnitOfWork, limit_id: str) -> None:
    row = get_registered_limit(uow, limit_id)
    if uow.session.scalars(select(Limit).where(
        Limit.service_id == row.service_id, Limit.resource_name == row.resource_name,
        Limit.region_id == row.region_id,
    )).first():
        raise Forbidden("Cannot delete a registered limit that project limits refer to.")
    uow.session.delete(row)


def get_limit(uow: UnitOfWork, limit_id: str) -> Limit:
    return get(uow, Limit, limit_id, "limit")


def list_limits(uow: UnitOfWork, filters: dict, visible_projects: set[str] | None = None) -> list[Limit]:
    query = select(Limit).order_by(Limit.resource_name)
    for key in ("service_id", "region_id", "resource_name", "project_id", "domain_id"):
        if key in filters:
            query = query.where(getattr(Limit, key) == filters[key])
    rows = list(uow.session.scalars(query))
    if visible_projects is not None:
        rows = [r for r in rows if r.project_id in visible_projects]
    return rows


def create_limits(uow: UnitOfWork, items: list[dict]) -> list[Limit]:
    created = []
    for item in items:
        _check_refs(uow, item)
        if bool(item.get("project_id")) == bool(item.get("domain_id")):
            raise BadRequest("Invalid input for field 'limits': exactly one of project_id, domain_id is required.")
        registered = uow.session.scalars(select(RegisteredLimit).where(
            RegisteredLimit.service_id == item["service_id"],
            RegisteredLimit.resource_name == item["resource_name"],
            RegisteredLimit.region_id == item.get("region_id"),
        )).first()
        if registered is None:
            raise Forbidden(f"No registered limit for {item['resource_name']} of that service and region; "
                            "register one first.")
        if uow.session.scalars(_same(Limit, item, _LIMIT_KEY)).first() is not None:
            raise Conflict(f"Conflict occurred attempting to store limit - Duplicate entry: a limit for "
                           f"{item['resource_name']} already exists for that project or domain.")
        row = Limit(project_id=item.get("project_id"), domain_id=item.get("domain_id"),
                    service_id=item["service_id"], region_id=item.get("region_id"),
                    resource_name=item["resource_name"], resource_limit=item["resource_limit"],
                    description=item.get("description"))
        uow.session.add(row)
        flush_unique(uow, f"Duplicate entry: limit for {item['resource_name']} already exists.")
        created.append(row)
    return created


def update_limit(uow: UnitOfWork, limit_id: str, changes: dict) -> Limit:
    row = get_limit(uow, limit_id)
    apply(row, changes, ("resource_limit", "description"))
    return row


def delete_limit(uow: UnitOfWork, limit_id: str) -> None:
    uow.session.delete(get_limit(uow, limit_id))


def effective_limit(uow: UnitOfWork, service_id: str, region_id: str | None, resource_name: str,
                    project_id: str) -> int | None:
    """What other services enforce: the project's limit, else the registered default.

    A limit or registered limit of the region wins over one registered without a region.
    """
    project = uow.session.get(Project, project_id)
    regions = list(dict.fromkeys((region_id, None)))
    for region in regions:
        row = uow.session.scalars(select(Limit).where(
            Limit.service_id == service_id, Limit.resource_name == resource_name, Limit.project_id == project_id,
            Limit.region_id == region,
        )).first()
        if row is not None:
            return row.resource_limit
    for region in regions if project is not None else ():
        row = uow.session.scalars(select(Limit).where(
            Limit.service_id == service_id, Limit.resource_name == resource_name,
            Limit.domain_id == project.domain_id, Limit.region_id == region,
        )).first()
        if row is not None:
            return row.resource_limit
    for region in regions:
        registered = uow.session.scalars(select(RegisteredLimit).where(
            RegisteredLimit.service_id == service_id, RegisteredLimit.resource_name == resource_name,
            RegisteredLimit.region_id == region,
        )).first()
        if registered is not None:
            return registered.default_limit
    return None


def effective_limits(uow: UnitOfWork, service_id: str, region_id: str | None, resource_names: list[str],
                     project_id: str) -> dict[str, int | None]:
    """``effective_limit`` of several resources of one service at once: three statements in all (the
    project's limits, its domain's, the registered ones), whatever the number of resources."""
    names = list(dict.fromkeys(resource_names))
    regions = list(dict.fromkeys((region_id, None)))
    project = uow.session.get(Project, project_id)
    mine: dict[tuple, int] = {}
    for name, region, limit in uow.session.execute(select(Limit.resource_name, Limit.region_id, Limit.resource_limit)
                                                   .where(Limit.service_id == service_id,
                                                          Limit.resource_name.in_(names),
                                                          Limit.project_id == project_id)):
        mine.setdefault((name, region), limit)
    domain: dict[tuple, int] = {}
    if project is not None:
        for name, region, limit in uow.session.execute(
                select(Limit.resource_name, Limit.region_id, Limit.resource_limit).where(
                    Limit.service_id == service_id, Limit.resource_name.in_(names),
                    Limit.domain_id == project.domain_id)):
            domain.setdefault((name, region), limit)
    registered: dict[tuple, int] = {}
    for name, region, default in uow.session.execute(
            select(RegisteredLimit.resource_name, RegisteredLimit.region_id, RegisteredLimit.default_limit).where(
                RegisteredLimit.service_id == service_id, RegisteredLimit.resource_name.in_(names))):
        registered.setdefault((name, region), default)
    out: dict[str, int | None] = {}
    for name in names:
        out[name] = next((found[(name, region)] for found in (mine, domain, registered) for region in regions
                          if (name, region) in found), None)
    return out
