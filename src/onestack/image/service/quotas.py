"""Per-project quotas as upstream names them in unified limits.

``image_count_total`` (images), ``image_count_uploading`` (images receiving data),
``image_size_total`` and ``image_stage_total`` (MiB).  Checks run inside the write transaction that
makes the change, so concurrent requests cannot both slip under a limit (SQLite serializes writers).
"""

from __future__ import annotations

from sqlalchemy import func, select

from onestack.core.errors import RequestEntityTooLarge

from ..model import Image
from ..states import IMPORTING, IN_FLIGHT, UPLOADING

MIB = 1 << 20

DEFAULT_LIMITS = {
    "image_count_total": 1000,
    "image_count_uploading": 100,
    "image_size_total": 1048576,  # MiB (1 TiB)
    "image_stage_total": 1048576,  # MiB
}


def unlimited(limit: int | None) -> bool:
    return limit is None or limit < 0


def over_limit(project_id: str, resource: str, limit: int, usage: int, delta: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"Project {project_id} is over a limit for [Resource {resource} is over limit of {limit} due to "
        f"current usage {usage} and delta {delta}]")


def image_count(session, owner: str, statuses: tuple[str, ...] | None = None) -> int:
    q = select(func.count()).select_from(Image).where(Image.owner == owner)
    if statuses:
        q = q.where(Image.status.in_(statuses))
    return session.scalar(q) or 0


def stored_bytes(session, owner: str, exclude: str | None = None) -> int:
    q = select(func.coalesce(func.sum(Image.size), 0)).where(Image.owner == owner, Image.store.is_not(None))
    if exclude:
        q = q.where(Image.id != exclude)
    return int(session.scalar(q) or 0)


def staged_bytes(session, owner: str, exclude: str | None = None) -> int:
    q = select(func.coalesce(func.sum(Image.size), 0)).where(
        Image.owner == owner, Image.status.in_((UPLOADING, IMPORTING)))
    if exclude:
        q = q.where(Image.id != exclude)
    return int(session.scalar(q) or 0)


def check_count(session, limit: int | None, owner: str | None, resource: str = "image_count_total",
                statuses: tuple[str, ...] | None = None) -> None:
    if owner is None or unlimited(limit):
        return
    usage = image_count(session, owner, statuses)
    if usage + 1 > limit:
        raise over_limit(owner, resource, limit, usage, 1)


def check_uploading(session, limit: int | None, owner: str | None) -> None:
    check_count(session, limit, owner, "image_count_uploading", IN_FLIGHT)


def remaining_bytes(limit_mib: int | None, usage: int) -> int | None:
    """Bytes still allowed under a MiB limit (None: unlimited)."""
    if unlimited(limit_mib):
        return None
    return max(0, limit_mib * MIB - usage)


def check_size(owner: str | None, resource: str, limit_mib: int | None, usage: int, delta: int = 0) -> None:
    """Over the limit when usage (+ delta bytes) exceeds it; upstream refuses once usage reaches it."""
    if owner is None or unlimited(limit_mib):
        return
    if (delta == 0 and usage >= limit_mib * MIB and limit_mib >= 0) or usage + delta > limit_mib * MIB:
        raise over_limit(owner, resource, limit_mib, usage // MIB, -(-delta // MIB))


def project_usage(deps, project_id: str | None) -> dict[str, tuple[int | None, int]]:
    """(limit, usage) per quota resource for /v2/info/usage (sizes in MiB, as the limits)."""
    with deps.uow() as uow:
        session = uow.session
        used = {
            "image_size_total": -(-stored_bytes(session, project_id) // MIB) if project_id else 0,
            "image_stage_total": -(-staged_bytes(session, project_id) // MIB) if project_id else 0,
            "image_count_total": image_count(session, project_id) if project_id else 0,
            "image_count_uploading": image_count(session, project_id, IN_FLIGHT) if project_id else 0,
        }
    return {name: (deps.limit(name, project_id), value) for name, value in used.items()}
