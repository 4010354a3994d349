"""Declarative base, common column mixins and the engine factory.

SQLite runs in WAL mode.  Writers never see "database is locked": a unit of work that writes
starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front instead of failing on the upgrade
from a read lock) and waits up to ``busy_timeout`` for it; readers never block.  Writers of one
process first queue in arrival order on a lock of the engine (``WriteTurns``), so SQLite's polling
busy handler only settles races with other processes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections import deque

from sqlalchemy import JSON, DateTime, Integer, MetaData, String, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class UTCDateTime(TypeDecorator):
    """Naive UTC in the database on every backend, naive UTC in Python."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            # MySQL's DATETIME drops sub-seconds by default; revocation ordering needs them.
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict: JSON, list: JSON}


class IdMixin:
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReconciledMixin:
    """Desired state carries a revision; agents report what they converged to."""

    revision: Mapped[int] = mapped_column(Integer, default=1)
    observed_revision: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32), default="")
    fault: Mapped[dict | None] = mapped_column(JSON, default=None)


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 60, "isolation_level": None},
            pool_size=20,
            max_overflow=20,
        )
        _sqlite_transactions(engine)
        return engine
    kwargs = {"pool_size": 10, "max_overflow": 20, "pool_recycle": 3600}
    if url.startswith("mysql"):
        kwargs["isolation_level"] = "READ COMMITTED"
    engine = create_engine(url, echo=echo, **kwargs)
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled server connection at checkout only when it sat idle for a while.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout — one of the few a scheduler decision or
    a port create makes. A connection in steady use is known alive; one that sat idle may have been cut by the
    server or a proxy (haproxy, a Galera failover). A connection that dies while in use is caught anyway:
    SQLAlchemy invalidates it and every connection of the pool older than it on the first disconnect error.
    """

    @event.listens_for(engine.pool, "checkin")
    def _idle_since(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
            dbapi_conn.rollback()  # the ping opened a transaction (the driver's default): leave none behind
        except Exception as exc:  # any DB-API error: the pool discards this connection and opens a fresh one
            raise sa_exc.DisconnectionError(str(exc)) from exc
        finally:
            with contextlib.suppress(Exception):  # a dead connection's cursor may refuse to close; it is discarded
                cursor.close()


class WriteTurns:
    """A first-come, first-served lock: this process's writers of one SQLite database take turns.

    SQLite's busy handler polls with growing sleeps (up to 100 ms each) and is not fair: among a
    dozen concurrent writers one could lose every race for a second or more (the ~1 s p99 of
    ``POST /v2.0/ports`` at concurrency 8).  Queued here instead, each writer is woken the moment
    the previous one has committed.
    """

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=self.timeout):
            return True  # handed over by release()
        with self._mutex:
            if turn in self._waiters:  # still queued: give up (SQLite's busy handler decides)
                self._waiters.remove(turn)
                return False
        return True  # handed over just as the wait timed out

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # the turn passes on without the lock being free
            else:
                self._held = False


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    turns = WriteTurns()
    holders: set[int] = set()  # ids of the DBAPI connections whose transaction holds the turn

    def _raw(conn) -> object:
        return getattr(conn, "dbapi_connection", conn)  # a pool proxy or the DBAPI connection itself

    def _end(conn) -> None:
        key = id(_raw(conn))
        if key in holders:
            holders.discard(key)
            turns.release()

    # pysqlite's own transaction handling is disabled (isolation_level=None) so that we emit BEGIN
    # ourselves: IMMEDIATE for units of work that will write, after this process's earlier writers.
    @event.listens_for(engine, "begin")
    def _begin(conn):
        if not conn.get_execution_options().get("onestack_write", False):
            conn.exec_driver_sql("BEGIN")
            return
        key = id(conn.connection.dbapi_connection)
        if key not in holders and turns.acquire():
            holders.add(key)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end(conn.connection)
            raise

    # the turn passes on once COMMIT/ROLLBACK really ran (the engine's events fire before them)
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn) -> None:
        try:
            commit(dbapi_conn)
        finally:
            _end(dbapi_conn)

    def do_rollback(dbapi_conn) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            _end(dbapi_conn)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback

    @event.listens_for(engine, "close")
    def _closed(dbapi_conn, _record):
        _end(dbapi_conn)

    @event.listens_for(engine, "invalidate")
    def _invalidated(dbapi_conn, _record, _exc):
        _end(dbapi_conn)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
