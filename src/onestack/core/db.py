"""Declarative base, common column mixins and the engine factory.

SQLite runs in WAL mode.  Writers never see "database is locked": a unit of work that writes
starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front instead of failing on the upgrade
from a read lock) and waits up to ``busy_timeout`` for it; readers never block.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, DateTime, Integer, MetaData, String, create_engine, event
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
    kwargs = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20, "pool_recycle": 3600}
    if url.startswith("mysql"):
        kwargs["isolation_level"] = "READ COMMITTED"
    return create_engine(url, echo=echo, **kwargs)


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    # pysqlite's own transaction handling is disabled (isolation_level=None) so that we emit BEGIN
    # ourselves: IMMEDIATE for units of work that will write.
    @event.listens_for(engine, "begin")
    def _begin(conn):
        write = conn.get_execution_options().get("onestack_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
