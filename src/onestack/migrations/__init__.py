"""Database migrations (Alembic), one history per service.

Every service keeps its own branch (``branch_labels=("<service>",)``) rooted on ``0001`` (the
identity/outbox base), so services evolve their schemas independently; ``upgrade`` applies all heads.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

import onestack

HERE = Path(__file__).parent
_NOT_SERVICES = {"core", "migrations", "dashboard"}


def metadata():
    """The shared metadata with every service's tables registered (each ``<service>/model.py``)."""
    from onestack.core import uow  # noqa: F401  (the outbox table)
    from onestack.core.db import Base

    root = Path(onestack.__file__).parent
    for module in pkgutil.iter_modules([str(root)]):
        if module.ispkg and module.name not in _NOT_SERVICES and (root / module.name / "model.py").exists():
            importlib.import_module(f"onestack.{module.name}.model")
    return Base.metadata


def _config(engine: Engine | None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(_config(None)).get_heads()))


def current(engine: Engine) -> tuple[str, ...]:
    if not inspect(engine).has_table("alembic_version"):
        return ()
    with engine.connect() as conn:
        return tuple(sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()))


def upgrade(engine: Engine) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Migrate every service's branch to its head; returns (before, after)."""
    from alembic import command

    before = current(engine)
    command.upgrade(_config(engine), "heads")
    return before, current(engine)
