"""Helpers shared by the block storage use cases: lookups scoped to the caller, filtering, sorting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from onestack.core.context import RequestContext
from onestack.core.errors import BadRequest, NotFound
from onestack.core.uow import UnitOfWork

from ..model import ProjectLock

T = TypeVar("T")

# bus topics the volume agent listens to
VOLUME_TOPIC = "volume.volume"
SNAPSHOT_TOPIC = "volume.snapshot"
BACKUP_TOPIC = "volume.backup"


@dataclass(frozen=True)
class Caller:
    """Who acts: the request context plus whether policy made them an administrator."""

    ctx: RequestContext
    is_admin: bool = False

    @property
    def project_id(self) -> str:
        return self.ctx.project_id or ""


def get_scoped(uow: UnitOfWork, model: type[T], id_: str, caller: Caller, what: str) -> T:
    row = uow.session.get(model, id_) if id_ else None
    if row is None or getattr(row, "deleted", False) or (
        not caller.is_admin and getattr(row, "project_id", caller.project_id) != caller.project_id
    ):
        raise NotFound(f"{what} {id_} could not be found.")
    return row


GLOBAL_LOCK = "*"


def ensure_lock_rows(uow: UnitOfWork) -> None:
    """Bootstrap: the global lock row that guards the first insert of each project's row."""
    if uow.session.get(ProjectLock, GLOBAL_LOCK) is None:
        uow.session.add(ProjectLock(project_id=GLOBAL_LOCK, counter=0))


def _locked(uow: UnitOfWork, project_id: str) -> ProjectLock | None:
    return uow.session.scalars(select(ProjectLock).where(ProjectLock.project_id == project_id)
                               .with_for_update()).first()


def lock_project(uow: UnitOfWork, project_id: str) -> None:
    """Serialize quota checks of one project across API processes (a row lock; SQLite locks the database).

    Only existing rows are ever locked (no gap locks, no duplicate-insert races on MariaDB): a project's
    first check takes the global row, then inserts the project's row.
    """
    exists = uow.session.scalars(select(ProjectLock.project_id).where(ProjectLock.project_id == project_id)).first()
    row = _locked(uow, project_id) if exists else None
    if row is None:
        if _locked(uow, GLOBAL_LOCK) is None:
            try:
                with uow.session.begin_nested():
                    uow.session.add(ProjectLock(project_id=GLOBAL_LOCK, counter=0))
            except IntegrityError:
                pass
            _locked(uow, GLOBAL_LOCK)
        row = _locked(uow, project_id)
        if row is None:
            row = ProjectLock(project_id=project_id, counter=0)
            uow.session.add(row)
            uow.session.flush()
    row.counter += 1


def parse_bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("true", "1", "t", "yes", "y", "on"):
        return True
    if low in ("false", "0", "f", "no", "n", "off"):
        return False
    raise BadRequest(f"Invalid input received: {name}={value}")


def parse_sort(sort: str | None, sort_key: str | None, sort_dir: str | None, allowed: Sequence[str],
               default: str = "created_at") -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if sort:
        if sort_key or sort_dir:
            raise BadRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with "
                             "the 'sort' parameter.")
        for part in sort.split(","):
            key, _, direction = part.strip().partition(":")
            keys.append((key.strip(), (direction or "desc").strip().lower()))
    elif sort_key:
        keys.append((sort_key, (sort_dir or "desc").lower()))
    for key, direction in keys:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input received: Unknown sort direction, must be 'desc' or 'asc': {direction}")
        if key not in allowed:
            raise BadRequest(f"Invalid input received: Invalid sort key {key}")
    if not keys:
        keys = [(default, "desc")]
    if all(k != "id" for k, _ in keys):
        keys.append(("id", keys[-1][1]))
    return keys


def sort_rows(rows: list, keys: list[tuple[str, str]], value: Callable[[object, str], object]) -> list:
    def norm(v):
        if v is None:
            return (0, "")
        if isinstance(v, bool):
            return (1, int(v))
        if isinstance(v, int | float):
            return (1, v)
        if isinstance(v, dt.datetime):
            return (1, v.isoformat())
        return (1, str(v))

    for key, direction in reversed(keys):
        rows = sorted(rows, key=lambda r, k=key: norm(value(r, k)), reverse=direction == "desc")
    return rows


def paginate(rows: list, limit: int | None, marker: str | None, offset: int | None = None) -> tuple[list, bool]:
    """A page after ``marker``; the flag says whether to link a next page (as upstream: a full page)."""
    start = 0
    if marker:
        ids = [r.id for r in rows]
        if marker not in ids:
            raise BadRequest(f"Invalid input received: marker [{marker}] not found")
        start = ids.index(marker) + 1
    if offset:
        start += offset
    chosen = rows[start:]
    if limit is None:
        return chosen, False
    return chosen[:limit], limit > 0 and len(chosen) >= limit


def time_filter(value: str, name: str) -> list[tuple[str, dt.datetime]]:
    """3.60: ``created_at=gt:2024-01-01T00:00:00,lte:...``."""
    out = []
    for part in value.split(","):
        op, sep, stamp = part.partition(":")
        if not sep or op not in ("gt", "gte", "lt", "lte", "eq", "neq"):
            op, stamp = "eq", part
        try:
            when = dt.datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"Invalid input received: Invalid filter value for {name}: {value}") from None
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        out.append((op, when))
    return out


def compare_time(actual: dt.datetime | None, conditions: list[tuple[str, dt.datetime]]) -> bool:
    if actual is None:
        return False
    for op, when in conditions:
        ok = {"gt": actual > when, "gte": actual >= when, "lt": actual < when, "lte": actual <= when,
              "eq": actual == when, "neq": actual != when}[op]
        if not ok:
            return False
    return True
