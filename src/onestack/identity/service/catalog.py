"""Regions, services and endpoints, and the catalog they make."""

from __future__ import annotations

from sqlalchemy import delete, select

from onestack.core.db import new_id
from onestack.core.errors import BadRequest, Conflict
from onestack.core.uow import UnitOfWork

from ..model import Endpoint, Region, Service
from .common import apply, changed, flush_unique, get

INTERFACES = ("public", "internal", "admin")


# -- regions --------------------------------------------------------------------------------------


def get_region(uow: UnitOfWork, region_id: str) -> Region:
    return get(uow, Region, region_id, "region")


def list_regions(uow: UnitOfWork, filters: dict) -> list[Region]:
    query = select(Region).order_by(Region.id)
    if "parent_region_id" in filters:
        query = query.where(Region.parent_region_id == filters["parent_region_id"])
    return list(uow.session.scalars(query))


def create_region(uow: UnitOfWork, region_id: str | None, description: str = "",
                  parent_region_id: str | None = None) -> Region:
    if parent_region_id:
        get_region(uow, parent_region_id)
    region_id = region_id or new_id()
    if uow.session.get(Region, region_id) is not None:
        raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")
    region = Region(id=region_id, description=description or "", parent_region_id=parent_region_id)
    uow.session.add(region)
    flush_unique(uow, f"region {region_id}")
    return region


def update_region(uow: UnitOfWork, region_id: str, changes: dict) -> Region:
    region = get_region(uow, region_id)
    if changes.get("parent_region_id"):
        parent = get_region(uow, changes["parent_region_id"])
        while parent is not None:
            if parent.id == region.id:
                raise BadRequest("Region parent would create a circular reference.")
            parent = uow.session.get(Region, parent.parent_region_id) if parent.parent_region_id else None
    apply(region, changes, ("description", "parent_region_id"))
    changed(uow, region.id)
    return region


def delete_region(uow: UnitOfWork, region_id: str) -> None:
    region = get_region(uow, region_id)
    if uow.session.scalars(select(Region).where(Region.parent_region_id == region.id)).first():
        raise Conflict(f"Region {region.id} has child regions and cannot be deleted.")
    if uow.session.scalars(select(Endpoint).where(Endpoint.region_id == region.id)).first():
        raise Conflict(f"Region {region.id} has endpoints and cannot be deleted.")
    uow.session.delete(region)
    changed(uow, region.id)


# -- services -------------------------------------------------------------------------------------


def get_service(uow: UnitOfWork, service_id: str) -> Service:
    return get(uow, Service, service_id, "service")


def list_services(uow: UnitOfWork, filters: dict) -> list[Service]:
    query = select(Service).order_by(Service.type, Service.name)
    for key in ("type", "name"):
        if key in filters:
            query = query.where(getattr(Service, key) == filters[key])
    return list(uow.session.scalars(query))


def create_service(uow: UnitOfWork, type: str, name: str = "", description: str | None = None,
                   enabled: bool = True, extra: dict | None = None) -> Service:
    service = Service(type=type, name=name or "", description=description, enabled=enabled, extra=extra or {})
    uow.session.add(service)
    uow.session.flush()
    changed(uow, service.id)
    return service


def update_service(uow: UnitOfWork, service_id: str, changes: dict) -> Service:
    service = get_service(uow, service_id)
    apply(service, changes, ("type", "name", "description", "enabled"))
    changed(uow, service.id)
    return service


def delete_service(uow: UnitOfWork, service_id: str) -> None:
    service = get_service(uow, service_id)
    uow.session.execute(delete(Endpoint).where(Endpoint.service_id == service.id))
    uow.session.delete(service)
    changed(uow, service.id)


# -- endpoints ------------------------------------------------------------------------------------


def get_endpoint(uow: UnitOfWork, endpoint_id: str) -> Endpoint:
    return get(uow, Endpoint, endpoint_id, "endpoint")


def list_endpoints(uow: UnitOfWork, filters: dict) -> list[Endpoint]:
    query = select(Endpoint).order_by(Endpoint.service_id, Endpoint.interface)
    for key in ("service_id", "interface", "region_id"):
        if key in filters:
            query = query.where(getattr(Endpoint, key) == filters[key])
    return list(uow.session.scalars(query))


def _check_endpoint(uow: UnitOfWork, values: dict) -> None:
    if "interface" in values and values["interface"] not in INTERFACES:
        raise BadRequest(f"Invalid input for field 'interface': must be one of {', '.join(INTERFACES)}.")
    if values.get("service_id"):
        get_service(uow, values["service_id"])
    if values.get("region_id"):
        get_region(uow, values["region_id"])


def create_endpoint(uow: UnitOfWork, service_id: str, interface: str, url: str, region_id: str | None = None,
                    enabled: bool = True) -> Endpoint:
    _check_endpoint(uow, {"service_id": service_id, "interface": interface, "region_id": region_id})
    endpoint = Endpoint(service_id=service_id, interface=interface, url=url, region_id=region_id, enabled=enabled)
    uow.session.add(endpoint)
    uow.session.flush()
    changed(uow, endpoint.id)
    return endpoint


def update_endpoint(uow: UnitOfWork, endpoint_id: str, changes: dict) -> Endpoint:
    endpoint = get_endpoint(uow, endpoint_id)
    _check_endpoint(uow, changes)
    apply(endpoint, changes, ("service_id", "interface", "url", "region_id", "enabled"))
    changed(uow, endpoint.id)
    return endpoint


def delete_endpoint(uow: UnitOfWork, endpoint_id: str) -> None:
    uow.session.delete(get_endpoint(uow, endpoint_id))
    changed(uow, endpoint_id)


def ensure_service_endpoints(uow: UnitOfWork, type: str, name: str, url: str, region_id: str,
                             description: str = "") -> Service:
    """Register a service and its three endpoints, or move existing ones to ``url`` (idempotent)."""
    if uow.session.get(Region, region_id) is None:
        uow.session.add(Region(id=region_id, description=""))
        uow.session.flush()
    service = uow.session.scalars(select(Service).where(Service.type == type)).first()
    if service is None:
        service = create_service(uow, type, name, description)
    for interface in INTERFACES:
        endpoint = uow.session.scalars(select(Endpoint).where(
            Endpoint.service_id == service.id, Endpoint.interface == interface, Endpoint.region_id == region_id
        )).first()
        if endpoint is None:
            create_endpoint(uow, service.id, interface, url, region_id)
        elif endpoint.url != url:
            endpoint.url = url
            changed(uow, endpoint.id)
    return service


def catalog(uow: UnitOfWork) -> list[dict]:
    """The catalog as tokens and /v3/auth/catalog carry it."""
    services = {s.id: s for s in uow.session.scalars(select(Service).where(Service.enabled.is_(True)))}
    entries: dict[str, dict] = {}
    for ep in uow.session.scalars(select(Endpoint).where(Endpoint.enabled.is_(True)).order_by(Endpoint.id)):
        service = services.get(ep.service_id)
        if service is None:
            continue
        entry = entries.setdefault(service.id, {"endpoints": [], "id": service.id, "type": service.type,
                                                "name": service.name})
        entry["endpoints"].append({"id": ep.id, "interface": ep.interface, "region": ep.region_id,
                                   "region_id": ep.region_id, "url": ep.url})
    return sorted(entries.values(), key=lambda e: e["type"])
