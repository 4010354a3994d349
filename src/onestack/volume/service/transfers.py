"""Volume transfers between projects: create (with a one-time auth key), accept, delete."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.uow import UnitOfWork

from .. import states as st
from ..errors import InvalidVolume
from ..model import Snapshot, Transfer, Volume
from . import quotas
from .common import Caller, get_scoped
from .volumes import get_volume


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


def get_transfer(uow: UnitOfWork, transfer_id: str, caller: Caller) -> Transfer:
    row = uow.session.get(Transfer, transfer_id)
    if row is None or row.accepted or (not caller.is_admin and row.source_project_id != caller.project_id):
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    return row


def list_transfers(uow: UnitOfWork, caller: Caller, all_tenants: bool, filters: dict) -> list[Transfer]:
    query = select(Transfer).where(Transfer.accepted.is_(False)).order_by(Transfer.created_at.desc())
    if not (caller.is_admin and all_tenants):
        query = query.where(Transfer.source_project_id == caller.project_id)
    rows = list(uow.session.scalars(query))
    for key, want in filters.items():
        rows = [r for r in rows if str(getattr(r, key, None)) == str(want)]
    return rows


def create_transfer(uow: UnitOfWork, caller: Caller, volume_id: str, name: str | None,
                    no_snapshots: bool) -> tuple[Transfer, str]:
    vol = get_volume(uow, volume_id, caller)
    if vol.status != st.AVAILABLE:
        raise InvalidVolume(f"Invalid volume: status must be available (it is {vol.status}).")
    auth_key = secrets.token_hex(8)
    salt = secrets.token_hex(8)
    row = Transfer(volume_id=vol.id, name=name, salt=salt, crypt_hash=_hash(salt, auth_key),
                   source_project_id=vol.project_id, no_snapshots=no_snapshots)
    uow.session.add(row)
    vol.status = st.AWAITING_TRANSFER
    uow.session.flush()
    return row, auth_key


def delete_transfer(uow: UnitOfWork, caller: Caller, transfer_id: str) -> None:
    row = get_transfer(uow, transfer_id, caller)
    vol = uow.session.get(Volume, row.volume_id)
    if vol is not None and vol.status == st.AWAITING_TRANSFER:
        vol.status = st.AVAILABLE
    uow.session.delete(row)


def accept_transfer(uow: UnitOfWork, caller: Caller, transfer_id: str, auth_key: str,
                    limits: quotas.LimitSource) -> Transfer:
    row = uow.session.get(Transfer, transfer_id)
    if row is None or row.accepted:
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    if not hmac.compare_digest(row.crypt_hash, _hash(row.salt, auth_key)):
        raise BadRequest(f"Invalid auth key: Attempt to transfer {transfer_id} with invalid auth key.")
    vol = get_scoped(uow, Volume, row.volume_id, Caller(caller.ctx, True), "Volume")
    if vol.status != st.AWAITING_TRANSFER:
        raise InvalidVolume(f"Invalid volume: Transfer {transfer_id}: volume id {vol.id} unexpected status "
                            f"{vol.status}.")
    snaps = [] if row.no_snapshots else list(uow.session.scalars(select(Snapshot).where(
        Snapshot.volume_id == vol.id, Snapshot.deleted.is_(False))))
    gigabytes = vol.size + sum(s.size for s in snaps)
    quotas.check_and_claim(uow, limits, caller.project_id,
                           {"volumes": 1, "gigabytes": gigabytes, "snapshots": len(snaps)}, vol.size)
    vol.project_id = caller.project_id
    vol.user_id = caller.ctx.user_id
    vol.status = st.AVAILABLE
    for snap in snaps:
        snap.project_id = caller.project_id
        snap.user_id = caller.ctx.user_id
    row.accepted = True
    row.destination_project_id = caller.project_id
    return row
