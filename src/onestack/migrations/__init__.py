"""Database migrations (Alembic), one history for every service's tables."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


def metadata():
    # Importing the models registers their tables on the shared metadata.
    from onestack.core import uow  # noqa: F401  (outbox)
    from onestack.core.db import Base
    from onestack.identity import model  # noqa: F401

    return Base.metadata


def _config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]


def current(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to ``revision``; returns (from, to)."""
    from alembic import command

    before = current(engine)
    command.upgrade(_config(engine), revision)
    return before, current(engine) or ""
