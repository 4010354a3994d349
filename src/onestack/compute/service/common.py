"""Helpers shared by the compute use cases."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from onestack.core.errors import Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..model import QuotaLock

T = TypeVar("T")

# Bus topics: the scheduler wakes on new builds, host agents on changes of their instances.
SCHEDULE = "compute.schedule"
INSTANCE = "compute.instance"
NETWORK_CHANGED = "compute.network-changed"  # a server's ports changed addresses: its host agent refreshes them


def get(uow: UnitOfWork, model: type[T], id_, message: str) -> T:
    row = uow.session.get(model, id_) if id_ is not None else None
    if row is None:
        raise NotFound(message)
    return row


def flush_unique(uow: UnitOfWork, message: str) -> None:
    """Flush inside a savepoint, turning a unique-constraint violation into a 409."""
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError:
        raise Conflict(message) from None


def lock(uow: UnitOfWork, key: str) -> None:
    """Serialize quota checks of one project/user: SELECT ... FOR UPDATE on its lock row.

    On SQLite every writing unit of work already holds the database write lock (BEGIN IMMEDIATE);
    on MariaDB/PostgreSQL the row lock makes count-then-insert exact under concurrency.  A missing
    row is created in a short transaction of its own first: two units of work that both lock a
    missing row and then insert it deadlock on InnoDB's gap locks.
    """
    session = uow.session
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":  # this unit of work holds the database's write lock already
        return
    if session.scalar(select(QuotaLock.key).where(QuotaLock.key == key)) is None:  # a plain read: no lock
        try:
            with bind.engine.begin() as conn:
                conn.execute(insert(QuotaLock).values(key=key))
        except IntegrityError:
            pass  # created meanwhile by another request
    session.get(QuotaLock, key, with_for_update=True, populate_existing=True)
