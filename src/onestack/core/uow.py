"""Unit of work: one transaction holding desired state and its outbox events.

Events are written to the ``outbox`` table in the same transaction as the state they announce and
published on the bus only after commit, so a message never announces a rolled-back change; the
relay also republishes rows a crashed process left behind.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.engine import Engine
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


class UnitOfWork:
    def __init__(self, session: Session, bus: Bus) -> None:
        self.session = session
        self._bus = bus
        self._events: list[OutboxEvent] = []
        self._after_commit: list = []

    def emit(self, topic: str, key: str) -> None:
        event = OutboxEvent(topic=topic, key=key)
        self.session.add(event)
        self._events.append(event)

    def after_commit(self, fn) -> None:
        """Run ``fn()`` once the transaction committed (e.g. drop a cache)."""
        self._after_commit.append(fn)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        self.session.commit()
        events, self._events = self._events, []
        for fn in self._after_commit:
            fn()
        self._after_commit = []
        if events:
            for event in events:
                self._bus.publish(event.topic, event.key)
            self.session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([e.id for e in events])))
            self.session.commit()


class UnitOfWorkFactory:
    """``with uow_factory(write=True) as uow:`` commits on success, rolls back on error."""

    def __init__(self, engine: Engine, bus: Bus) -> None:
        self.engine = engine
        self.bus = bus
        self._read = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
        self._write = sessionmaker(
            bind=engine.execution_options(onestack_write=True), expire_on_commit=False, autoflush=False
        )

    def __call__(self, write: bool = False) -> _Scope:
        return _Scope(self, write)

    def relay_outbox(self) -> int:
        """Publish events a previous process committed but did not get to publish."""
        with self(write=True) as uow:
            rows = uow.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
            for row in rows:
                self.bus.publish(row.topic, row.key)
                uow.session.delete(row)
        return len(rows)


class _Scope:
    def __init__(self, factory: UnitOfWorkFactory, write: bool) -> None:
        self._factory = factory
        self._write = write

    def __enter__(self) -> UnitOfWork:
        maker = self._factory._write if self._write else self._factory._read
        self._uow = UnitOfWork(maker(), self._factory.bus)
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
