"""When identity's in-memory caches are stale: every identity write is a change.

Every write unit of work identity opens (``TrackedUnitOfWorkFactory``) bumps the one-row
``identity_generation`` counter as its last statement and publishes ``identity.changed`` after
commit.  In one process (the in-process bus) that notice arrives before the writing request
answers, so caches are dropped in time.  API processes sharing a database (scaled out) cannot rely
on a bus message arriving in time, so there ``Generation.check`` reads the counter -- one primary-key
select -- before a cache is trusted, and drops everything when another process committed a change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from onestack.core.uow import UnitOfWork, UnitOfWorkFactory

from ..model import Generation as GenerationRow
from .common import changed


def record_change(uow: UnitOfWork) -> None:
    """Count a committed identity change.  Taken last in the transaction: the counter row's lock is then
    held only while committing, after every other lock, so concurrent writers queue but never deadlock."""
    changed(uow, "")
    uow.session.flush()
    bumped = uow.session.execute(
        update(GenerationRow).where(GenerationRow.id == 1).values(value=GenerationRow.value + 1))
    if bumped.rowcount == 0:  # a database whose migration did not seed the row
        uow.session.add(GenerationRow(id=1, value=1))


class TrackedUnitOfWorkFactory:
    """The unit-of-work factory identity uses: a write scope that commits records an identity change."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.bus = inner.bus

    def __call__(self, write: bool = False):
        return _TrackedScope(self.inner(write)) if write else self.inner(write)

    def untracked(self, write: bool = False):
        """A unit of work that is not an identity change (e.g. lockout counters)."""
        return self.inner(write)

    def relay_outbox(self) -> int:
        return self.inner.relay_outbox()


class _TrackedScope:
    def __init__(self, scope) -> None:
        self._scope = scope

    def __enter__(self) -> UnitOfWork:
        self._uow = self._scope.__enter__()
        return self._uow

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                record_change(self._uow)
            except BaseException as err:
                return self._scope.__exit__(type(err), err, err.__traceback__)
        return self._scope.__exit__(exc_type, exc, tb)


class Generation:
    """This process's view of identity data: ``value`` grows whenever caches must be dropped.

    Caches remember the ``value`` they were filled at and keep an entry only if it did not move
    meanwhile; ``invalidate`` (a bus notice or a counter change seen by ``check``) calls every
    listener to drop what it holds."""

    def __init__(self, engine: Engine, shared: bool) -> None:
        self.engine = engine
        self.shared = shared  # other processes write the same database: compare the counter per request
        self.value = 1
        self._seen: int | None = None  # the counter as this process last read it
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def invalidate(self, *_args) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self.value += 1
        for listener in self._listeners:
            listener()

    def check(self) -> None:
        """Scaled out: drop the caches if any process committed an identity change since the last look."""
        if not self.shared:
            return
        with self.engine.connect() as conn:
            counter = conn.execute(select(GenerationRow.value).where(GenerationRow.id == 1)).scalar() or 0
        if counter == self._seen:
            return
        with self._lock:  # concurrent checkers wait until the caches are really dropped
            if counter != self._seen:
                self._drop()
                self._seen = counter


class ReadCache:
    """Rendered answers of read-mostly requests (e.g. ``GET /v3/projects``), keyed by what they
    depend on, dropped with every identity change."""

    def __init__(self, generation: Generation, size: int = 512) -> None:
        self.generation = generation
        self.size = size
        self._items: dict = {}
        self._lock = threading.Lock()
        generation.on_change(self.clear)

    def get(self, key):
        return self._items.get(key)

    def put(self, key, value, generation: int) -> None:
        """Keep ``value`` if it was built from data no change has overtaken (``generation`` read first)."""
        with self._lock:
            if generation == self.generation.value:
                if len(self._items) >= self.size:
                    self._items.clear()
                self._items[key] = value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
