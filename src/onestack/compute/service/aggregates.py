"""Host aggregates, with availability zones as their ``availability_zone`` metadata."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..model import Aggregate, Instance, Service
from .common import flush_unique


def list_aggregates(uow: UnitOfWork) -> list[Aggregate]:
    return list(uow.session.scalars(select(Aggregate).order_by(Aggregate.id)))


def get_aggregate(uow: UnitOfWork, aggregate_id: str | int) -> Aggregate:
    row = None
    if str(aggregate_id).isdigit():
        row = uow.session.get(Aggregate, int(aggregate_id))
    if row is None:
        row = uow.session.scalars(select(Aggregate).where(Aggregate.uuid == str(aggregate_id))).first()
    if row is None:
        raise NotFound(f"Aggregate {aggregate_id} could not be found.")
    return row


def _check_zone(uow: UnitOfWork, zone: str | None, hosts: list[str], skip: int | None = None) -> None:
    if zone is None:
        return
    for agg in list_aggregates(uow):
        other = (agg.metadata_ or {}).get("availability_zone")
        if agg.id != skip and other and other != zone and set(agg.hosts or ()) & set(hosts):
            raise BadRequest(f"Cannot update aggregate: one of its hosts is already in availability zone "
                             f"{other} through aggregate {agg.name}.")


def create_aggregate(uow: UnitOfWork, name: str, zone: str | None) -> Aggregate:
    if uow.session.scalars(select(Aggregate).where(Aggregate.name == name)).first():
        raise Conflict(f"Aggregate {name} already exists.")
    row = Aggregate(name=name, metadata_={"availability_zone": zone} if zone else {}, hosts=[])
    uow.session.add(row)
    flush_unique(uow, f"Aggregate {name} already exists.")
    return row


def update_aggregate(uow: UnitOfWork, aggregate_id: str, changes: dict) -> Aggregate:
    row = get_aggregate(uow, aggregate_id)
    if "name" in changes and changes["name"] != row.name:
        if uow.session.scalars(select(Aggregate).where(Aggregate.name == changes["name"])).first():
            raise Conflict(f"Aggregate {changes['name']} already exists.")
        row.name = changes["name"]
    if "availability_zone" in changes:
        _check_zone(uow, changes["availability_zone"], row.hosts or [], row.id)
        meta = dict(row.metadata_ or {})
        if changes["availability_zone"]:
            meta["availability_zone"] = changes["availability_zone"]
        else:
            meta.pop("availability_zone", None)
        row.metadata_ = meta
    row.updated_at = utcnow()
    return row


def delete_aggregate(uow: UnitOfWork, aggregate_id: str) -> None:
    row = get_aggregate(uow, aggregate_id)
    if row.hosts:
        raise BadRequest(f"Invalid aggregate action delete for aggregate {row.id}: host aggregate not empty")
    uow.session.delete(row)


def add_host(uow: UnitOfWork, aggregate_id: str, host: str) -> Aggregate:
    row = get_aggregate(uow, aggregate_id)
    if uow.session.scalars(select(Service).where(Service.host == host, Service.binary == "nova-compute")).first() \
            is None:
        raise NotFound(f"Compute host {host} could not be found.")
    if host in (row.hosts or ()):
        raise Conflict(f"Aggregate {row.id} already has host {host}.")
    zone = (row.metadata_ or {}).get("availability_zone")
    _check_zone(uow, zone, [host], row.id)
    if zone and uow.session.scalars(select(Instance.id).where(
            Instance.host == host, Instance.deleted.is_(False), Instance.availability_zone != zone)).first():
        raise Conflict(f"Cannot add host {host} to aggregate {row.id}: it hosts servers of another zone.")
    row.hosts = [*(row.hosts or []), host]
    row.updated_at = utcnow()
    return row


def remove_host(uow: UnitOfWork, aggregate_id: str, host: str) -> Aggregate:
    row = get_aggregate(uow, aggregate_id)
    if host not in (row.hosts or ()):
        raise NotFound(f"Cannot remove host {host} in aggregate {row.id}: host not found in aggregate")
    row.hosts = [h for h in row.hosts if h != host]
    row.updated_at = utcnow()
    return row


def set_metadata(uow: UnitOfWork, aggregate_id: str, metadata: dict) -> Aggregate:
    row = get_aggregate(uow, aggregate_id)
    meta = dict(row.metadata_ or {})
    if "availability_zone" in metadata and metadata["availability_zone"]:
        _check_zone(uow, metadata["availability_zone"], row.hosts or [], row.id)
    for key, value in metadata.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = str(value)
    row.metadata_ = meta
    row.updated_at = utcnow()
    return row


def aggregates_of_host(uow: UnitOfWork, host: str) -> list[str]:
    return [a.uuid for a in list_aggregates(uow) if host in (a.hosts or ())]
