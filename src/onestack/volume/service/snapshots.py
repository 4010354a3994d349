"""Snapshot use cases; the agent makes (and removes) the point-in-time copy."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.uow import UnitOfWork

from .. import states as st
from ..model import Snapshot, Volume
from . import quotas
from .common import SNAPSHOT_TOPIC, Caller, get_scoped, parse_bool
from .volumes import get_volume


@dataclass(frozen=True)
class CreateSnapshot:
    volume_id: str | None
    name: str | None = None
    description: str | None = None
    force: bool = False
    metadata: dict = field(default_factory=dict)


def get_snapshot(uow: UnitOfWork, snapshot_id: str, caller: Caller) -> Snapshot:
    return get_scoped(uow, Snapshot, snapshot_id, caller, "Snapshot")


def create_snapshot(uow: UnitOfWork, caller: Caller, cmd: CreateSnapshot, limits: quotas.LimitSource,
                    in_use_allowed: bool) -> Snapshot:
    try:
        vol = get_volume(uow, cmd.volume_id or "", caller)
    except NotFound:
        raise NotFound(f"Volume {cmd.volume_id} could not be found.") from None
    force = parse_bool(cmd.force, "force")
    allowed = (st.AVAILABLE, st.IN_USE) if (force or in_use_allowed) else (st.AVAILABLE,)
    if vol.status not in allowed:
        raise BadRequest(f"Invalid volume: Volume {vol.id} status must be {' or '.join(allowed)}, but current "
                         f"status is: {vol.status}.")
    quotas.check_and_claim(uow, limits, vol.project_id, {"snapshots": 1, "gigabytes": vol.size})
    row = Snapshot(volume_id=vol.id, project_id=vol.project_id, user_id=caller.ctx.user_id, name=cmd.name,
                   description=cmd.description, size=vol.size, volume_type_id=vol.volume_type_id, status=st.CREATING,
                   progress="0%", metadata_=dict(cmd.metadata or {}), revision=1, observed_revision=0)
    uow.session.add(row)
    uow.session.flush()
    uow.emit(SNAPSHOT_TOPIC, row.id)
    return row


def list_snapshots(uow: UnitOfWork, caller: Caller, filters: dict, all_tenants: bool) -> list[Snapshot]:
    query = select(Snapshot).where(Snapshot.deleted.is_(False))
    project = filters.pop("project_id", None)
    if not (caller.is_admin and all_tenants):
        query = query.where(Snapshot.project_id == caller.project_id)
    elif project:
        query = query.where(Snapshot.project_id == project)
    rows = list(uow.session.scalars(query))
    out = []
    for row in rows:
        ok = True
        for key, want in filters.items():
            if key == "metadata":
                ok = all(str((row.metadata_ or {}).get(k)) == str(v) for k, v in want.items())
            elif key.endswith("~"):
                value = getattr(row, key[:-1], None)
                ok = value is not None and str(want).lower() in str(value).lower()
            else:
                ok = str(getattr(row, key, None)) == str(want)
            if not ok:
                break
        if ok:
            out.append(row)
    return out


def update_snapshot(uow: UnitOfWork, caller: Caller, snapshot_id: str, changes: dict) -> Snapshot:
    row = get_snapshot(uow, snapshot_id, caller)
    for key, attr in (("name", "name"), ("display_name", "name"), ("description", "description"),
                      ("display_description", "description")):
        if key in changes:
            setattr(row, attr, changes[key])
    return row


def mark_snapshot_deleting(uow: UnitOfWork, row: Snapshot) -> None:
    row.status = st.DELETING
    row.revision = (row.revision or 0) + 1
    uow.emit(SNAPSHOT_TOPIC, row.id)


def delete_snapshot(uow: UnitOfWork, caller: Caller, snapshot_id: str, force: bool = False) -> Snapshot:
    row = get_snapshot(uow, snapshot_id, caller)
    if row.status == st.DELETING:
        return row
    if not force and row.status not in (st.AVAILABLE, st.ERROR):
        raise BadRequest(f"Invalid snapshot: Volume Snapshot status must be available or error, but current "
                         f"status is: {row.status}.")
    if uow.session.scalars(select(Volume.id).where(Volume.snapshot_id == row.id, Volume.status == st.CREATING)).first():
        raise BadRequest("Invalid snapshot: a volume is being created from this snapshot.")
    mark_snapshot_deleting(uow, row)
    return row


def reset_snapshot_status(uow: UnitOfWork, caller: Caller, snapshot_id: str, status: str) -> Snapshot:
    row = get_snapshot(uow, snapshot_id, caller)
    if status not in st.SNAPSHOT_STATES:
        raise BadRequest(f"Invalid input received: Must specify a valid status ({status!r} is not).")
    row.status = status
    row.observed_revision = row.revision
    return row


def set_metadata(uow: UnitOfWork, caller: Caller, snapshot_id: str, metadata: dict, replace: bool) -> dict:
    row = get_snapshot(uow, snapshot_id, caller)
    row.metadata_ = dict(metadata) if replace else {**(row.metadata_ or {}), **metadata}
    return row.metadata_


def delete_metadata_key(uow: UnitOfWork, caller: Caller, snapshot_id: str, key: str) -> None:
    row = get_snapshot(uow, snapshot_id, caller)
    meta = dict(row.metadata_ or {})
    if key not in meta:
        raise NotFound(f"Snapshot {snapshot_id} has no metadata with key {key}.")
    del meta[key]
    row.metadata_ = meta
