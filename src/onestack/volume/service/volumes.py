"""Volume use cases: create/list/show/update/delete, metadata and the ``/action`` verbs.

The API only writes desired state: a transitional status plus ``task`` (what the agent must do) and
a bumped ``revision``; the volume agent converges it and writes the resulting status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.uow import UnitOfWork

from .. import states as st
from ..errors import InvalidVolume
from ..model import Attachment, Backup, Snapshot, Transfer, Volume, VolumeType
from . import quotas
from . import types as types_svc
from .common import VOLUME_TOPIC, Caller, compare_time, get_scoped, paginate, sort_rows

GIB = 1024 ** 3
SORT_KEYS = ("id", "name", "status", "size", "availability_zone", "created_at", "updated_at", "bootable",
             "project_id", "volume_type", "display_name")


@dataclass(frozen=True)
class CreateVolume:
    size: int | None
    name: str | None = None
    description: str | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    image_id: str | None = None
    snapshot_id: str | None = None
    source_volid: str | None = None
    backup_id: str | None = None
    metadata: dict = field(default_factory=dict)
    multiattach: bool = False


@dataclass(frozen=True)
class ImageInfo:
    """What volume create needs to know about a source image (from the image service)."""

    id: str
    size: int | None = None  # bytes
    min_disk: int = 0  # GiB
    disk_format: str | None = None
    container_format: str | None = None
    properties: dict = field(default_factory=dict)


def bump(row, task: dict | None) -> None:
    row.task = task
    row.revision = (row.revision or 0) + 1


def get_volume(uow: UnitOfWork, volume_id: str, caller: Caller) -> Volume:
    return get_scoped(uow, Volume, volume_id, caller, "Volume")


def create_volume(uow: UnitOfWork, caller: Caller, cmd: CreateVolume, limits: quotas.LimitSource, zone: str,
                  image: ImageInfo | None = None) -> Volume:
    size = cmd.size
    type_row: VolumeType | None = None
    bootable = False
    image_metadata: dict = {}
    source: dict = {"type": "empty"}
    sources = [x for x in (cmd.snapshot_id, cmd.source_volid, cmd.image_id, cmd.backup_id) if x]
    if len(sources) > 1:
        raise BadRequest("Invalid input received: only one of snapshot_id, source_volid, imageRef and backup_id "
                         "may be given.")
    if cmd.snapshot_id:
        snap = get_scoped(uow, Snapshot, cmd.snapshot_id, caller, "Snapshot")
        if snap.status != st.AVAILABLE:
            raise BadRequest("Invalid snapshot: Originating snapshot status must be one of 'available' values")
        if size is None:
            size = snap.size
        elif size < snap.size:
            raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot be smaller than the snapshot "
                             f"size {snap.size}GB. They must be >= original snapshot size.")
        parent = uow.session.get(Volume, snap.volume_id)
        if parent is not None:
            bootable = parent.bootable
            image_metadata = dict(parent.image_metadata or {})
        if snap.volume_type_id and not cmd.volume_type:
            type_row = uow.session.get(VolumeType, snap.volume_type_id)
        source = {"type": "snapshot", "id": snap.id}
    if cmd.source_volid:
        src = get_scoped(uow, Volume, cmd.source_volid, caller, "Volume")
        if src.status not in (st.AVAILABLE, st.IN_USE):
            raise BadRequest("Invalid volume: Unable to create a volume from an originating source volume when its "
                             "status is not 'available' or 'in-use'.")
        if size is None:
            size = src.size
        elif size < src.size:
            raise BadRequest(f"Invalid input received: Clones currently must be >= original volume size "
                             f"({size} < {src.size}).")
        bootable = src.bootable
        image_metadata = dict(src.image_metadata or {})
        if src.volume_type_id and not cmd.volume_type:
            type_row = uow.session.get(VolumeType, src.volume_type_id)
        source = {"type": "volume", "id": src.id}
    if cmd.backup_id:
        backup = get_scoped(uow, Backup, cmd.backup_id, caller, "Backup")
        if backup.status != st.AVAILABLE:
            raise BadRequest(f"Invalid backup: Backup status must be available but is {backup.status}.")
        if size is None:
            size = backup.size
        elif size < backup.size:
            raise BadRequest(f"Invalid input received: Volume size {size}GB cannot be smaller than the backup "
                             f"size {backup.size}GB.")
        source = {"type": "backup", "id": backup.id}
    if image is not None:
        need = max(math.ceil((image.size or 0) / GIB), image.min_disk or 0)
        if size is None:
            raise BadRequest("Invalid input received: Volume size must be specified when creating from an image.")
        if size < need:
            raise BadRequest(f"Invalid input received: Size of specified image {need}GB is larger than volume "
                             f"size {size}GB.")
        bootable = True
        image_metadata = {"image_id": image.id, "checksum": image.properties.get("checksum"),
                          "disk_format": image.disk_format, "container_format": image.container_format,
                          "size": str(image.size) if image.size is not None else None,
                          "min_disk": str(image.min_disk or 0),
                          "image_name": image.properties.get("name")}
        image_metadata = {k: v for k, v in image_metadata.items() if v is not None}
        source = {"type": "image", "id": image.id, "disk_format": image.disk_format or "raw"}
    if size is None or size <= 0:
        raise BadRequest(f"Invalid input received: Volume size '{size}' must be an integer and greater than 0")
    if cmd.volume_type:
        type_row = types_svc.find_type(uow, cmd.volume_type, caller)
    if type_row is None:
        type_row = types_svc.default_type(uow, caller.project_id)
    if cmd.availability_zone and cmd.availability_zone != zone:
        raise BadRequest(f"Invalid input received: Availability zone '{cmd.availability_zone}' is invalid.")
    multiattach = cmd.multiattach or (type_row.extra_specs or {}).get("multiattach") == "<is> True"
    quotas.check_and_claim(uow, limits, caller.project_id, {"volumes": 1, "gigabytes": size}, size)
    row = Volume(project_id=caller.project_id, user_id=caller.ctx.user_id, name=cmd.name,
                 description=cmd.description, size=size, availability_zone=zone, volume_type_id=type_row.id,
                 status=st.CREATING, attach_status=st.DETACHED, bootable=bootable, multiattach=multiattach,
                 metadata_=dict(cmd.metadata or {}), admin_metadata={}, image_metadata=image_metadata,
                 snapshot_id=cmd.snapshot_id, source_volid=cmd.source_volid, image_id=cmd.image_id,
                 backup_id=cmd.backup_id, revision=1, observed_revision=0,
                 task={"op": "create", "source": source})
    uow.session.add(row)
    uow.session.flush()
    uow.emit(VOLUME_TOPIC, row.id)
    return row


def list_volumes(uow: UnitOfWork, caller: Caller, filters: dict, all_tenants: bool = False) -> list[Volume]:
    query = select(Volume).where(Volume.deleted.is_(False))
    project = filters.pop("project_id", None)
    if not (caller.is_admin and all_tenants):
        query = query.where(Volume.project_id == caller.project_id)
    elif project:
        query = query.where(Volume.project_id == project)
    rows = list(uow.session.scalars(query))
    type_names = {t.id: t.name for t in uow.session.scalars(select(VolumeType))}
    return [r for r in rows if _matches(r, filters, type_names)]


def _matches(row: Volume, filters: dict, type_names: dict) -> bool:
    for key, want in filters.items():
        if key == "metadata":
            meta = {**(row.metadata_ or {}), **_readonly_meta(row)}
            if any(str(meta.get(k)) != str(v) for k, v in want.items()):
                return False
        elif key == "glance_metadata":
            if any(str((row.image_metadata or {}).get(k)) != str(v) for k, v in want.items()):
                return False
        elif key == "bootable":
            if row.bootable != want:
                return False
        elif key in ("created_at", "updated_at"):
            if not compare_time(getattr(row, key), want):
                return False
        elif key.endswith("~"):
            value = getattr(row, key[:-1], None)
            if value is None or str(want).lower() not in str(value).lower():
                return False
        elif key == "volume_type":
            if want not in (row.volume_type_id, type_names.get(row.volume_type_id)):
                return False
        elif key == "size":
            if str(row.size) != str(want):
                return False
        elif str(getattr(row, key, None)) != str(want):
            return False
    return True


def sort_and_page(rows: list, keys: list, limit: int | None, marker: str | None, offset: int | None,
                  type_names: dict) -> tuple[list, bool]:
    def value(row, key):
        if key == "volume_type":
            return type_names.get(row.volume_type_id)
        if key == "display_name":
            key = "name"
        return getattr(row, key, None)

    return paginate(sort_rows(rows, keys, value), limit, marker, offset)


def update_volume(uow: UnitOfWork, caller: Caller, volume_id: str, changes: dict) -> Volume:
    row = get_volume(uow, volume_id, caller)
    for key, attr in (("name", "name"), ("display_name", "name"), ("description", "description"),
                      ("display_description", "description")):
        if key in changes:
            setattr(row, attr, changes[key])
    if "metadata" in changes:
        row.metadata_ = dict(changes["metadata"] or {})
    return row


def delete_volume(uow: UnitOfWork, caller: Caller, volume_id: str, cascade: bool = False,
                  force: bool = False) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if row.status == st.DELETING:
        return row
    if row.attach_status == st.ATTACHED or _attachments(uow, row.id):
        raise InvalidVolume("Invalid volume: Volume cannot be deleted while in attached state")
    snapshots = list(uow.session.scalars(select(Snapshot).where(Snapshot.volume_id == row.id,
                                                                Snapshot.deleted.is_(False))))
    if not force and (row.status not in st.DELETABLE or (snapshots and not cascade)):
        raise InvalidVolume("Invalid volume: Volume status must be available or error or error_restoring or "
                            "error_extending or error_managing and must not be migrating, attached, belong to a "
                            "group, have snapshots, awaiting a transfer, or be disassociated from snapshots after "
                            "volume transfer.")
    if snapshots:
        if not force and any(s.status not in (st.AVAILABLE, st.ERROR) for s in snapshots):
            raise InvalidVolume("Invalid volume: Snapshot of the volume is not in available or error state.")
        from .snapshots import mark_snapshot_deleting

        for snap in snapshots:
            mark_snapshot_deleting(uow, snap)
    for transfer in uow.session.scalars(select(Transfer).where(Transfer.volume_id == row.id)):
        uow.session.delete(transfer)
    row.previous_status = row.status
    row.status = st.DELETING
    bump(row, {"op": "delete"})
    uow.emit(VOLUME_TOPIC, row.id)
    return row


def _attachments(uow: UnitOfWork, volume_id: str) -> list[Attachment]:
    return list(uow.session.scalars(select(Attachment).where(Attachment.volume_id == volume_id,
                                                             Attachment.attach_status != st.DETACHED)))


def _readonly_meta(row: Volume) -> dict:
    out = {}
    admin = row.admin_metadata or {}
    if "readonly" in admin:
        out["readonly"] = admin["readonly"]
    if "attached_mode" in admin:
        out["attached_mode"] = admin["attached_mode"]
    return out


def visible_metadata(row: Volume) -> dict:
    return {**(row.metadata_ or {}), **_readonly_meta(row)}


# -- metadata ----------------------------------------------------------------------------------------


def set_metadata(uow: UnitOfWork, caller: Caller, volume_id: str, metadata: dict, replace: bool) -> dict:
    row = get_volume(uow, volume_id, caller)
    _refuse_transitional(row, "update metadata")
    row.metadata_ = dict(metadata) if replace else {**(row.metadata_ or {}), **metadata}
    return row.metadata_


def delete_metadata_key(uow: UnitOfWork, caller: Caller, volume_id: str, key: str) -> None:
    row = get_volume(uow, volume_id, caller)
    meta = dict(row.metadata_ or {})
    if key not in meta:
        raise NotFound(f"Volume {volume_id} has no metadata with key {key}.")
    del meta[key]
    row.metadata_ = meta


def _refuse_transitional(row: Volume, what: str) -> None:
    if row.status in (st.DELETING, st.MAINTENANCE, st.UPLOADING):
        raise InvalidVolume(f"Invalid volume: Volume status must be available or in-use to {what}; it is "
                            f"{row.status}.")


def set_image_metadata(uow: UnitOfWork, caller: Caller, volume_id: str, metadata: dict) -> dict:
    row = get_volume(uow, volume_id, caller)
    _refuse_transitional(row, "update image metadata")
    row.image_metadata = {**(row.image_metadata or {}), **{str(k): str(v) for k, v in metadata.items()}}
    return row.image_metadata


def unset_image_metadata(uow: UnitOfWork, caller: Caller, volume_id: str, key: str) -> None:
    row = get_volume(uow, volume_id, caller)
    meta = dict(row.image_metadata or {})
    if key not in meta:
        raise NotFound(f"Glance metadata for volume {volume_id} with key {key} not found.")
    del meta[key]
    row.image_metadata = meta


# -- actions ------------------------------------------------------------------------------------------


def extend_volume(uow: UnitOfWork, caller: Caller, volume_id: str, new_size: int, limits: quotas.LimitSource,
                  attached_allowed: bool) -> Volume:
    row = get_volume(uow, volume_id, caller)
    allowed = (st.AVAILABLE, st.IN_USE) if attached_allowed else (st.AVAILABLE,)
    if row.status not in allowed:
        raise InvalidVolume(f"Invalid volume: Volume status must be {' or '.join(allowed)} to extend, currently "
                            f"{row.status}.")
    if new_size <= row.size:
        raise BadRequest(f"Invalid input received: New size for extend must be greater than current size. "
                         f"(current: {row.size}, extended: {new_size}).")
    quotas.check_and_claim(uow, limits, row.project_id, {"gigabytes": new_size - row.size}, new_size)
    row.previous_status = row.status
    row.status = st.EXTENDING
    bump(row, {"op": "extend", "new_size": new_size, "previous_status": row.previous_status})
    uow.emit(VOLUME_TOPIC, row.id)
    return row


def set_bootable(uow: UnitOfWork, caller: Caller, volume_id: str, bootable: bool) -> Volume:
    row = get_volume(uow, volume_id, caller)
    row.bootable = bootable
    return row


def update_readonly_flag(uow: UnitOfWork, caller: Caller, volume_id: str, readonly: bool) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if row.status != st.AVAILABLE:
        raise InvalidVolume(f"Invalid volume: Volume status must be available to update readonly flag, but "
                            f"current status is: {row.status}.")
    row.admin_metadata = {**(row.admin_metadata or {}), "readonly": str(bool(readonly))}
    return row


def reset_status(uow: UnitOfWork, caller: Caller, volume_id: str, status: str | None, attach_status: str | None,
                 migration_status: str | None) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if status is not None:
        if status not in st.VOLUME_STATES:
            raise BadRequest(f"Invalid input received: Must specify a valid status ({status!r} is not).")
        row.status = status
    if attach_status is not None:
        if attach_status not in st.ATTACH_STATES:
            raise BadRequest(f"Invalid input received: Must specify a valid attach status ({attach_status!r}).")
        row.attach_status = attach_status
        if attach_status == st.DETACHED:
            for att in _attachments(uow, row.id):
                att.attach_status = st.DETACHED
    if migration_status is not None:
        row.migration_status = None if migration_status == "none" else migration_status
    # an operator's reset ends whatever the agent was doing
    row.task = None
    row.observed_revision = row.revision
    row.fault = None
    return row


def retype_volume(uow: UnitOfWork, caller: Caller, volume_id: str, new_type: str, policy: str) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if row.status not in (st.AVAILABLE, st.IN_USE):
        raise InvalidVolume(f"Invalid volume: Volume status must be available or in-use to retype, but current "
                            f"status is: {row.status}.")
    if policy not in ("never", "on-demand"):
        raise BadRequest(f"Invalid input received: Invalid migration policy {policy!r}.")
    target = types_svc.find_type(uow, new_type, caller)
    if target.id == row.volume_type_id:
        raise BadRequest("Invalid input received: Retype requested to the same volume type.")
    # every type lives on the same backend here: a retype is a change of bookkeeping only
    row.volume_type_id = target.id
    if (target.extra_specs or {}).get("multiattach") == "<is> True":
        row.multiattach = True
    return row


def begin_upload(uow: UnitOfWork, caller: Caller, volume_id: str, image_id: str, disk_format: str,
                 force: bool) -> Volume:
    row = get_volume(uow, volume_id, caller)
    allowed = (st.AVAILABLE, st.IN_USE) if force else (st.AVAILABLE,)
    if row.status not in allowed:
        raise InvalidVolume(f"Invalid volume: Volume {volume_id} status must be available or in-use with force, "
                            f"but current status is: {row.status}.")
    row.previous_status = row.status
    row.status = st.UPLOADING
    bump(row, {"op": "upload", "image_id": image_id, "disk_format": disk_format,
               "previous_status": row.previous_status})
    uow.emit(VOLUME_TOPIC, row.id)
    return row


def revert_to_snapshot(uow: UnitOfWork, caller: Caller, volume_id: str, snapshot_id: str) -> Volume:
    """3.40: put the volume back to its latest snapshot (the agent copies the data)."""
    row = get_volume(uow, volume_id, caller)
    snap = get_scoped(uow, Snapshot, snapshot_id, caller, "Snapshot")
    if snap.volume_id != row.id:
        raise BadRequest(f"Invalid input received: Snapshot {snapshot_id} is not a snapshot of volume {volume_id}.")
    if row.status != st.AVAILABLE or snap.status != st.AVAILABLE:
        raise InvalidVolume("Invalid volume: Volume and snapshot must both be available to revert "
                            f"(volume {row.status}, snapshot {snap.status}).")
    latest = uow.session.scalars(select(Snapshot).where(Snapshot.volume_id == row.id, Snapshot.deleted.is_(False))
                                 .order_by(Snapshot.created_at.desc())).first()
    if latest is None or latest.id != snap.id:
        raise BadRequest("Invalid input received: Only the latest snapshot of a volume can be reverted to.")
    if snap.size != row.size:
        raise BadRequest("Invalid input received: The volume was extended after the snapshot; it cannot be "
                         "reverted to it.")
    row.status = "reverting"
    snap.status = "restoring"
    bump(row, {"op": "revert", "snapshot_id": snap.id})
    uow.emit(VOLUME_TOPIC, row.id)
    return row


def accept_transfer_volume(row: Volume, project_id: str, user_id: str | None) -> None:
    row.project_id = project_id
    row.user_id = user_id
    row.status = st.AVAILABLE
