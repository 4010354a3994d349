"""Unit of work: one transaction holding desired state and its outbox events.

Events are written to the ``outbox`` table in the same transaction as the state they announce and
published on the bus only after commit, so a message never announces a rolled-back change; the
relay also republishes rows a crashed process left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Integer, String, bindparam, delete, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .bus import Bus
from .db import Base, utcnow

log = logging.getLogger(__name__)


class OutboxEvent(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


_OUTBOX = OutboxEvent.__table__
_INSERT_OUTBOX = insert(_OUTBOX).returning(_OUTBOX.c.id)
_DELETE_OUTBOX = delete(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))


class UnitOfWork:
    def __init__(self, session: Session, bus: Bus, factory: UnitOfWorkFactory) -> None:
        self.session = session
        self._bus = bus
        self._factory = factory
        self._events: dict[tuple[str, str], None] = {}  # ordered, duplicates collapse
        self._after_commit: list = []

    def emit(self, topic: str, key: str) -> None:
        self._events[(topic, key)] = None

    def after_commit(self, fn) -> None:
        """Run ``fn()`` once the transaction committed (e.g. drop a cache)."""
        self._after_commit.append(fn)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        events, self._events = list(self._events), {}
        # rows earlier units of work already published are deleted in this transaction, not in one
        # of their own: one write transaction per request instead of two
        published = self._factory.take_published()
        try:
            ids: list[int] = []
            if published or events:
                # Core statements on the unit of work's connection: a few times cheaper than the ORM's
                # bulk paths, and this runs in every write request
                conn = self.session.connection()
                if published:
                    conn.execute(_DELETE_OUTBOX, {"ids": published})
                now = utcnow()
                rows = [{"topic": topic, "key": key, "created_at": now} for topic, key in events]
                if len(rows) > 1 and conn.dialect.insert_executemany_returning:
                    # one INSERT .. VALUES (..), (..) RETURNING for all (a port create announces three); the ids
                    # in any order: they are only deleted later
                    ids = list(conn.execute(_INSERT_OUTBOX, rows).scalars())
                else:
                    ids = [conn.execute(_INSERT_OUTBOX, row).scalar() for row in rows]
            self.session.commit()
        except BaseException:
            self._factory.add_published(published)
            raise
        for fn in self._after_commit:
            fn()
        self._after_commit = []
        for topic, key in events:
            self._bus.publish(topic, key)
        self._factory.add_published(ids)


def _read_bind(engine: Engine) -> Engine:
    """Where read scopes run. On PostgreSQL in autocommit: a read scope never writes (it is rolled back) and
    READ COMMITTED gives each statement its own snapshot anyway, so BEGIN and ROLLBACK were two round trips
    buying nothing; psycopg switches autocommit without one. SQLite keeps its transaction (a WAL snapshot
    across the scope's statements); on MariaDB switching autocommit per checkout would cost a round trip."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


class UnitOfWorkFactory:
    """``with uow_factory(write=True) as uow:`` commits on success, rolls back on error."""

    def __init__(self, engine: Engine, bus: Bus) -> None:
        self.engine = engine
        self.bus = bus
        self._read_engine = _read_bind(engine)
        self._read = sessionmaker(bind=self._read_engine, expire_on_commit=False, autoflush=False)
        self._write = sessionmaker(
            bind=engine.execution_options(onestack_write=True), expire_on_commit=False, autoflush=False
        )
        self._published: list[int] = []
        self._published_lock = threading.Lock()

    def __call__(self, write: bool = False) -> _Scope:
        return _Scope(self, write)

    def connect(self) -> Connection:
        """``with uow_factory.connect() as conn:`` a read scope on a bare Core connection, for prebuilt Core
        statements on hot paths (an agent's check of one row): the same snapshot rules as ``uow_factory()``,
        without an ORM session (~55 us less CPU per scope on SQLite); rolled back when it ends."""
        return self._read_engine.connect()

    def take_published(self) -> list[int]:
        with self._published_lock:
            ids, self._published = self._published, []
        return ids

    def add_published(self, ids: list[int]) -> None:
        if ids:
            with self._published_lock:
                self._published.extend(ids)

    def relay_outbox(self) -> int:
        """Publish events a previous process committed but did not get to publish."""
        with self(write=True) as uow:
            conn = uow.session.connection()
            rows = conn.execute(select(_OUTBOX.c.id, _OUTBOX.c.topic, _OUTBOX.c.key).order_by(_OUTBOX.c.id)).all()
            for row in rows:
                self.bus.publish(row.topic, row.key)
            if rows:
                conn.execute(_DELETE_OUTBOX, {"ids": [row.id for row in rows]})
        return len(rows)


class _Scope:
    def __init__(self, factory: UnitOfWorkFactory, write: bool) -> None:
        self._factory = factory
        self._write = write

    def __enter__(self) -> UnitOfWork:
        maker = self._factory._write if self._write else self._factory._read
        self._uow = UnitOfWork(maker(), self._factory.bus, self._factory)
        return self._uow

    def __exit__(self, exc_type, exc, tb) -> None:
        session = self._uow.session
        try:
            if exc_type is None and self._write:
                self._uow.commit()
            else:
                session.rollback()
        finally:
            session.close()
