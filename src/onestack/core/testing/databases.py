"""Throwaway databases on the local MariaDB/PostgreSQL servers, one per test session."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

MARIADB = os.environ.get("ONESTACK_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
POSTGRESQL = os.environ.get("ONESTACK_TEST_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def available(kind: str) -> bool:
    try:
        with throwaway_database(kind):
            return True
    except Exception:
        return False


@contextlib.contextmanager
def throwaway_database(kind: str, tmp_dir: str | None = None) -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty database; drop it afterwards."""
    name = f"onestack_test_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        import tempfile

        with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
            yield f"sqlite:///{tmp}/{name}.db"
        return
    from sqlalchemy import create_engine, text

    server = {"mariadb": MARIADB, "postgresql": POSTGRESQL}[kind]
    admin_db = "/postgres" if kind == "postgresql" else "/"
    engine = create_engine(server + admin_db, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if kind == "mariadb":
                conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
            else:
                conn.execute(text(f"CREATE DATABASE {name}"))
                # A throwaway database need not survive a crash: commits skip the WAL flush wait.
                conn.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
        suffix = "?charset=utf8mb4" if kind == "mariadb" else ""
        yield f"{server}/{name}{suffix}"
    finally:
        with engine.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ))
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()
