"""Backups into the filesystem backup store, and restores (into a new or an existing volume)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from onestack.core.errors import BadRequest
from onestack.core.uow import UnitOfWork

from .. import states as st
from ..errors import InvalidVolume
from ..model import Backup, Volume
from . import quotas
from . import types as types_svc
from .common import BACKUP_TOPIC, VOLUME_TOPIC, Caller, get_scoped
from .snapshots import get_snapshot
from .volumes import bump, get_volume


@dataclass(frozen=True)
class CreateBackup:
    volume_id: str
    name: str | None = None
    description: str | None = None
    container: str | None = None
    incremental: bool = False
    force: bool = False
    snapshot_id: str | None = None
    metadata: dict = field(default_factory=dict)
    availability_zone: str | None = None


def get_backup(uow: UnitOfWork, backup_id: str, caller: Caller) -> Backup:
    return get_scoped(uow, Backup, backup_id, caller, "Backup")


def create_backup(uow: UnitOfWork, caller: Caller, cmd: CreateBackup, limits: quotas.LimitSource,
                  zone: str) -> Backup:
    vol = get_volume(uow, cmd.volume_id, caller)
    if cmd.snapshot_id:
        snap = get_snapshot(uow, cmd.snapshot_id, caller)
        if snap.volume_id != vol.id or snap.status != st.AVAILABLE:
            raise InvalidVolume("Invalid snapshot: Snapshot to be backed up must be available and of the volume.")
    allowed = (st.AVAILABLE, st.IN_USE) if cmd.force else (st.AVAILABLE,)
    if vol.status not in allowed:
        raise InvalidVolume(f"Invalid volume: Volume to be backed up must be available or in-use, but the current "
                            f"status is \"{vol.status}\".")
    if cmd.incremental and not uow.session.scalars(select(Backup.id).where(
            Backup.volume_id == vol.id, Backup.status == st.AVAILABLE)).first():
        raise BadRequest("Invalid backup: No backups available to do an incremental backup.")
    quotas.check_and_claim(uow, limits, vol.project_id, {"backups": 1, "backup_gigabytes": vol.size})
    row = Backup(volume_id=vol.id, snapshot_id=cmd.snapshot_id, project_id=vol.project_id,
                 user_id=caller.ctx.user_id, name=cmd.name, description=cmd.description, size=vol.size,
                 availability_zone=cmd.availability_zone or zone, container=cmd.container or "volumebackups",
                 status=st.CREATING, metadata_=dict(cmd.metadata or {}), revision=1, observed_revision=0,
                 task={"op": "create", "previous_status": vol.status,
                       "incremental": bool(cmd.incremental)})
    uow.session.add(row)
    vol.previous_status = vol.status
    vol.status = st.BACKING_UP
    uow.session.flush()
    uow.emit(BACKUP_TOPIC, row.id)
    return row


def list_backups(uow: UnitOfWork, caller: Caller, filters: dict, all_tenants: bool) -> list[Backup]:
    query = select(Backup).where(Backup.deleted.is_(False))
    project = filters.pop("project_id", None)
    if not (caller.is_admin and all_tenants):
        query = query.where(Backup.project_id == caller.project_id)
    elif project:
        query = query.where(Backup.project_id == project)
    rows = list(uow.session.scalars(query))
    for key, want in filters.items():
        rows = [r for r in rows if str(getattr(r, key, None)) == str(want)]
    return rows


def update_backup(uow: UnitOfWork, caller: Caller, backup_id: str, changes: dict) -> Backup:
    row = get_backup(uow, backup_id, caller)
    if "name" in changes:
        row.name = changes["name"]
    if "description" in changes:
        row.description = changes["description"]
    if "metadata" in changes:
        row.metadata_ = dict(changes["metadata"] or {})
    return row


def delete_backup(uow: UnitOfWork, caller: Caller, backup_id: str, force: bool = False) -> Backup:
    row = get_backup(uow, backup_id, caller)
    if row.status == st.DELETING:
        return row
    if not force and row.status not in (st.AVAILABLE, st.ERROR):
        raise BadRequest(f"Invalid backup: Backup status must be available or error, but current status is: "
                         f"{row.status}.")
    row.status = st.DELETING
    bump(row, {"op": "delete"})
    uow.emit(BACKUP_TOPIC, row.id)
    return row


def restore_backup(uow: UnitOfWork, caller: Caller, backup_id: str, volume_id: str | None, name: str | None,
                   limits: quotas.LimitSource, zone: str) -> tuple[Backup, Volume]:
    backup = get_backup(uow, backup_id, caller)
    if backup.status != st.AVAILABLE:
        raise BadRequest(f"Invalid backup: Backup status must be available but is {backup.status}.")
    if volume_id:
        vol = get_volume(uow, volume_id, caller)
        if vol.status != st.AVAILABLE:
            raise InvalidVolume(f"Invalid volume: Volume to be restored to must be available, but the current "
                                f"status is \"{vol.status}\".")
        if vol.size < backup.size:
            raise InvalidVolume(f"Invalid volume: volume size {vol.size} is smaller than backup size "
                                f"{backup.size}.")
        vol.status = st.RESTORING_BACKUP
        bump(vol, {"op": "restore", "source": {"type": "backup", "id": backup.id}})
    else:
        quotas.check_and_claim(uow, limits, caller.project_id, {"volumes": 1, "gigabytes": backup.size}, backup.size)
        vol = Volume(project_id=caller.project_id, user_id=caller.ctx.user_id,
                     name=name or f"restore_backup_{backup.id}", size=backup.size, availability_zone=zone,
                     volume_type_id=types_svc.default_type(uow, caller.project_id).id, status=st.CREATING,
                     attach_status=st.DETACHED, metadata_={}, admin_metadata={}, image_metadata={},
                     backup_id=backup.id, revision=1, observed_revision=0,
                     task={"op": "create", "source": {"type": "backup", "id": backup.id}})
        uow.session.add(vol)
        uow.session.flush()
    uow.emit(VOLUME_TOPIC, vol.id)
    backup.status = st.RESTORING
    return backup, vol


def reset_backup_status(uow: UnitOfWork, caller: Caller, backup_id: str, status: str) -> Backup:
    row = get_backup(uow, backup_id, caller)
    if status not in (st.AVAILABLE, st.ERROR):
        raise BadRequest(f"Invalid input received: Must specify a valid status ({status!r}).")
    row.status = status
    row.task = None
    row.observed_revision = row.revision
    return row
