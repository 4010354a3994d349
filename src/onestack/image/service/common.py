"""What image use cases need from their surroundings, as a protocol the client satisfies."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Protocol

from onestack.core.config import ImageSettings
from onestack.core.uow import UnitOfWorkFactory

from ..backends import ImageStore


class Deps(Protocol):
    uow: UnitOfWorkFactory
    store: ImageStore  # where active images' data lives
    staging: ImageStore  # glance-direct staging area
    settings: ImageSettings
    pool: Executor  # upload pipeline lanes (hashing, store writes); never blocks on other work
    tasks: Executor  # background imports (web-download)

    def limit(self, resource: str, project_id: str | None) -> int | None:
        """The project's effective unified limit for ``resource``; None or negative: unlimited."""
