"""Attach/detach bookkeeping: the legacy ``os-reserve``/``os-attach``/``os-detach`` actions and the v3
attachments API (3.27).  Nothing here touches a device: the host side (``VolumeClient.attach``) does.
"""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, NotFound
from onestack.core.uow import UnitOfWork

from .. import states as st
from ..errors import InvalidVolume
from ..model import Attachment, Volume
from .common import Caller, get_scoped
from .volumes import get_volume


def active_attachments(uow: UnitOfWork, volume_id: str) -> list[Attachment]:
    return list(uow.session.scalars(select(Attachment).where(Attachment.volume_id == volume_id,
                                                             Attachment.attach_status != st.DETACHED)
                                    .order_by(Attachment.created_at)))


def attachments_for(uow: UnitOfWork, volume_ids: list[str]) -> dict[str, list[Attachment]]:
    out: dict[str, list[Attachment]] = {vid: [] for vid in volume_ids}
    if not volume_ids:
        return out
    for att in uow.session.scalars(select(Attachment).where(Attachment.volume_id.in_(volume_ids),
                                                            Attachment.attach_status == st.ATTACHED)
                                   .order_by(Attachment.created_at)):
        out[att.volume_id].append(att)
    return out


def connection_info(volume: Volume, mode: str) -> dict:
    """What a host needs to attach: the file backend names the volume; the host resolves it locally."""
    return {"driver_volume_type": "file",
            "data": {"volume_id": volume.id, "name": f"volume-{volume.id}", "access_mode": mode,
                     "encrypted": False, "discard": True}}


def _can_attach(uow: UnitOfWork, row: Volume, reserve_states: tuple[str, ...]) -> None:
    allowed = reserve_states + ((st.IN_USE,) if row.multiattach else ())
    if row.status not in allowed:
        if row.status == st.IN_USE and not row.multiattach:
            raise InvalidVolume(f"Invalid volume: Volume {row.id} status must be available or downloading to "
                                "reserve, but the current status is in-use (and it is not multiattach).")
        raise InvalidVolume(f"Invalid volume: Volume {row.id} status must be {' or '.join(allowed)}, but the "
                            f"current status is: {row.status}.")


# -- legacy actions --------------------------------------------------------------------------------


def reserve(uow: UnitOfWork, caller: Caller, volume_id: str) -> Volume:
    row = get_volume(uow, volume_id, caller)
    _can_attach(uow, row, (st.AVAILABLE,))
    if row.status == st.AVAILABLE:
        row.status = st.ATTACHING
    return row


def unreserve(uow: UnitOfWork, caller: Caller, volume_id: str) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if row.status == st.ATTACHING:
        row.status = st.IN_USE if active_attachments(uow, row.id) else st.AVAILABLE
    return row


def attach(uow: UnitOfWork, caller: Caller, volume_id: str, instance_uuid: str | None, host_name: str | None,
           mountpoint: str | None, mode: str = "rw", attachment_id: str | None = None,
           connector: dict | None = None) -> Attachment:
    row = get_volume(uow, volume_id, caller)
    if mode not in ("rw", "ro"):
        raise BadRequest(f"Invalid input received: Invalid attaching mode '{mode}' for volume {volume_id}.")
    if (row.admin_metadata or {}).get("readonly") == "True" and mode != "ro":
        raise InvalidVolume(f"Invalid volume: Volume {volume_id} is read-only; attach it in 'ro' mode.")
    if not instance_uuid and not host_name:
        raise BadRequest("Invalid request to attach volume to an invalid target")
    att = uow.session.get(Attachment, attachment_id) if attachment_id else None
    if att is None:
        for existing in active_attachments(uow, row.id):
            if existing.instance_uuid == instance_uuid and existing.attach_status in (st.RESERVED, st.ATTACHING):
                att = existing
                break
    if att is None:
        _can_attach(uow, row, (st.AVAILABLE, st.ATTACHING, st.RESERVED))
        att = Attachment(volume_id=row.id, project_id=row.project_id, instance_uuid=instance_uuid)
        uow.session.add(att)
    att.attached_host = host_name
    att.mountpoint = mountpoint
    att.attach_mode = mode
    att.attach_status = st.ATTACHED
    att.attach_time = utcnow()
    if connector is not None:
        att.connector = connector
    row.status = st.IN_USE
    row.attach_status = st.ATTACHED
    row.admin_metadata = {**(row.admin_metadata or {}), "attached_mode": mode}
    uow.session.flush()
    return att


def begin_detaching(uow: UnitOfWork, caller: Caller, volume_id: str) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if row.status != st.IN_USE or row.attach_status != st.ATTACHED:
        raise InvalidVolume(f"Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
                            f"attach_status must be 'attached' to detach (status {row.status}).")
    row.status = st.DETACHING
    return row


def roll_detaching(uow: UnitOfWork, caller: Caller, volume_id: str) -> Volume:
    row = get_volume(uow, volume_id, caller)
    if row.status == st.DETACHING:
        row.status = st.IN_USE
    return row


def detach(uow: UnitOfWork, caller: Caller, volume_id: str, attachment_id: str | None = None,
           instance_uuid: str | None = None) -> Volume:
    row = get_volume(uow, volume_id, caller)
    active = active_attachments(uow, row.id)
    if attachment_id:
        chosen = [a for a in active if a.id == attachment_id]
        if not chosen:
            raise NotFound(f"Volume attachment could not be found with filter: attachment_id = {attachment_id}.")
    elif instance_uuid:
        chosen = [a for a in active if a.instance_uuid == instance_uuid]
    else:
        if len(active) > 1:
            raise InvalidVolume("Invalid volume: Detach volume failed: More than one attachment, but no "
                                "attachment_id provided.")
        chosen = active
    if not chosen and row.status not in (st.IN_USE, st.DETACHING, st.ATTACHING, st.RESERVED):
        raise InvalidVolume(f"Invalid volume: Volume {volume_id} is not attached.")
    for att in chosen:
        att.attach_status = st.DETACHED
        att.detach_time = utcnow()
    _settle(uow, row)
    return row


def _settle(uow: UnitOfWork, row: Volume) -> None:
    uow.session.flush()
    remaining = active_attachments(uow, row.id)
    if any(a.attach_status == st.ATTACHED for a in remaining):
        row.status = st.IN_USE
        row.attach_status = st.ATTACHED
    elif remaining:
        row.status = st.RESERVED
        row.attach_status = st.DETACHED
    else:
        row.status = st.AVAILABLE
        row.attach_status = st.DETACHED
        admin = dict(row.admin_metadata or {})
        admin.pop("attached_mode", None)
        row.admin_metadata = admin


# -- v3 attachments API (3.27+) --------------------------------------------------------------------


def get_attachment(uow: UnitOfWork, caller: Caller, attachment_id: str) -> Attachment:
    att = get_scoped(uow, Attachment, attachment_id, caller, "Volume attachment")
    if att.attach_status == st.DETACHED:
        raise NotFound(f"Volume attachment {attachment_id} could not be found.")
    return att


def list_attachments(uow: UnitOfWork, caller: Caller, filters: dict, all_tenants: bool) -> list[Attachment]:
    query = select(Attachment).where(Attachment.attach_status != st.DETACHED).order_by(Attachment.created_at.desc())
    if not (caller.is_admin and all_tenants):
        query = query.where(Attachment.project_id == caller.project_id)
    rows = list(uow.session.scalars(query))
    for key in ("volume_id", "instance_id", "status", "attach_status"):
        if key in filters:
            attr = {"instance_id": "instance_uuid", "status": "attach_status"}.get(key, key)
            rows = [r for r in rows if getattr(r, attr) == filters[key]]
    return rows


def create_attachment(uow: UnitOfWork, caller: Caller, volume_id: str, instance_uuid: str | None,
                      connector: dict | None, mode: str = "rw") -> tuple[Attachment, Volume]:
    row = get_volume(uow, volume_id, caller)
    if mode not in ("rw", "ro"):
        raise BadRequest(f"Invalid input received: Invalid attach mode {mode!r}.")
    _can_attach(uow, row, (st.AVAILABLE, st.RESERVED, st.ATTACHING, "downloading"))
    att = Attachment(volume_id=row.id, project_id=row.project_id, instance_uuid=instance_uuid,
                     attach_status=st.RESERVED, attach_mode=mode)
    uow.session.add(att)
    if row.status != st.IN_USE:
        row.status = st.RESERVED
    if connector:
        _connect(att, row, connector)
    uow.session.flush()
    return att, row


def _connect(att: Attachment, row: Volume, connector: dict) -> None:
    att.connector = connector
    att.attached_host = connector.get("host")
    att.mountpoint = connector.get("mountpoint")
    att.connection_info = {**connection_info(row, att.attach_mode), "attachment_id": att.id}
    att.attach_status = st.ATTACHING
    if row.status != st.IN_USE:
        row.status = st.ATTACHING


def update_attachment(uow: UnitOfWork, caller: Caller, attachment_id: str, connector: dict) -> Attachment:
    att = get_attachment(uow, caller, attachment_id)
    row = uow.session.get(Volume, att.volume_id)
    if not connector:
        raise BadRequest("Invalid input received: connector is required.")
    uow.session.flush()
    _connect(att, row, connector)
    return att


def complete_attachment(uow: UnitOfWork, caller: Caller, attachment_id: str) -> Attachment:
    att = get_attachment(uow, caller, attachment_id)
    row = uow.session.get(Volume, att.volume_id)
    att.attach_status = st.ATTACHED
    att.attach_time = utcnow()
    row.status = st.IN_USE
    row.attach_status = st.ATTACHED
    row.admin_metadata = {**(row.admin_metadata or {}), "attached_mode": att.attach_mode}
    return att


def delete_attachment(uow: UnitOfWork, caller: Caller, attachment_id: str) -> Volume:
    att = get_attachment(uow, caller, attachment_id)
    row = uow.session.get(Volume, att.volume_id)
    att.attach_status = st.DETACHED
    att.detach_time = utcnow()
    _settle(uow, row)
    return row
