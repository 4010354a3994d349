"""Quotas: defaults are unified registered limits (identity), overrides live here; usage is counted.

Checks are exact under concurrency: ``check_and_claim`` runs in the writing unit of work after the
project's lock row is taken, so two requests of one project never both see the last free slot.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from onestack.core.errors import BadRequest
from onestack.core.uow import UnitOfWork

from ..errors import OverQuota
from ..model import Backup, Quota, Snapshot, Volume, VolumeType
from .common import lock_project

# Cinder's [DEFAULT] quota_* defaults
DEFAULTS: dict[str, int] = {
    "volumes": 10,
    "snapshots": 10,
    "gigabytes": 1000,
    "backups": 10,
    "backup_gigabytes": 1000,
    "per_volume_gigabytes": -1,
    "groups": 10,
}

# resource -> effective registered/project limit (None: not registered)
LimitSource = Callable[[str, str], "int | None"]


def usage(uow: UnitOfWork, project_id: str) -> dict[str, int]:
    s = uow.session
    vols, vol_gb = s.execute(select(func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
                             .where(Volume.project_id == project_id, Volume.deleted.is_(False))).one()
    snaps, snap_gb = s.execute(select(func.count(Snapshot.id), func.coalesce(func.sum(Snapshot.size), 0))
                               .where(Snapshot.project_id == project_id, Snapshot.deleted.is_(False))).one()
    backups, backup_gb = s.execute(select(func.count(Backup.id), func.coalesce(func.sum(Backup.size), 0))
                                   .where(Backup.project_id == project_id, Backup.deleted.is_(False))).one()
    return {"volumes": int(vols), "gigabytes": int(vol_gb) + int(snap_gb), "snapshots": int(snaps),
            "backups": int(backups), "backup_gigabytes": int(backup_gb), "per_volume_gigabytes": 0, "groups": 0}


def limit_of(uow: UnitOfWork, limits: LimitSource, project_id: str, resource: str) -> int:
    row = uow.session.scalars(select(Quota).where(Quota.project_id == project_id, Quota.resource == resource)).first()
    if row is not None:
        return row.hard_limit
    value = limits(resource, project_id) if resource in DEFAULTS else None
    if value is None:
        return DEFAULTS.get(resource, -1)
    return value


def type_resources(uow: UnitOfWork) -> list[str]:
    names = uow.session.scalars(select(VolumeType.name).order_by(VolumeType.name)).all()
    return [f"{kind}_{name}" for name in names for kind in ("volumes", "gigabytes", "snapshots")]


def quota_set(uow: UnitOfWork, limits: LimitSource, project_id: str) -> dict[str, int]:
    out = {name: limit_of(uow, limits, project_id, name) for name in DEFAULTS}
    for name in type_resources(uow):
        out[name] = limit_of(uow, limits, project_id, name)
    return out


def default_set(uow: UnitOfWork, limits: LimitSource, project_id: str) -> dict[str, int]:
    out = {}
    for name, fallback in DEFAULTS.items():
        value = limits(name, project_id)
        out[name] = fallback if value is None else value
    for name in type_resources(uow):
        out[name] = -1
    return out


def update_quota_set(uow: UnitOfWork, limits: LimitSource, project_id: str, values: dict) -> None:
    known = set(DEFAULTS) | set(type_resources(uow))
    bad = [k for k in values if k not in known]
    if bad:
        raise BadRequest(f"Invalid input received: Bad key(s) in quota set: {', '.join(sorted(bad))}")
    used = usage(uow, project_id)
    for name, value in values.items():
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise BadRequest(f"Invalid input received: Quota value {value} for {name} must be an integer.") from None
        if value < -1:
            raise BadRequest(f"Invalid input received: Quota limit {value} for {name} must be greater than or "
                             "equal to -1.")
        if value != -1 and used.get(name, 0) > value:
            raise BadRequest(f"Invalid input received: Quota {name} limit must be equal or greater than existing "
                             f"resources. Current usage is {used[name]} and the requested limit is {value}.")
        row = uow.session.scalars(select(Quota).where(Quota.project_id == project_id, Quota.resource == name)).first()
        if row is None:
            uow.session.add(Quota(project_id=project_id, resource=name, hard_limit=value))
        else:
            row.hard_limit = value


def delete_quota_set(uow: UnitOfWork, project_id: str) -> None:
    for row in uow.session.scalars(select(Quota).where(Quota.project_id == project_id)):
        uow.session.delete(row)


_MESSAGES = {
    "volumes": "Maximum number of volumes allowed ({limit}) exceeded for quota 'volumes'.",
    "snapshots": "Maximum number of snapshots allowed ({limit}) exceeded",
    "backups": "Maximum number of backups allowed ({limit}) exceeded",
    "gigabytes": "Requested volume or snapshot exceeds allowed gigabytes quota. Requested {req}G, quota is "
                 "{limit}G and {used}G has been consumed.",
    "backup_gigabytes": "Requested backup exceeds allowed Backup gigabytes quota. Requested {req}G, quota is "
                        "{limit}G and {used}G has been consumed.",
}


def check_and_claim(uow: UnitOfWork, limits: LimitSource, project_id: str, deltas: dict[str, int],
                    volume_size: int | None = None) -> None:
    """Raise 413 when adding ``deltas`` would exceed a limit; the caller then adds its rows."""
    lock_project(uow, project_id)
    if volume_size is not None:
        per_volume = limit_of(uow, limits, project_id, "per_volume_gigabytes")
        if per_volume >= 0 and volume_size > per_volume:
            raise OverQuota(f"Requested volume size {volume_size}G is larger than maximum allowed limit "
                            f"{per_volume}G.")
    used = usage(uow, project_id)
    for name, delta in deltas.items():
        if delta <= 0:
            continue
        limit = limit_of(uow, limits, project_id, name)
        if limit >= 0 and used.get(name, 0) + delta > limit:
            raise OverQuota(_MESSAGES[name].format(limit=limit, req=delta, used=used.get(name, 0)))
