"""Test support that needs the whole cloud (the composition root), not just the core."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from starlette.testclient import TestClient

from onestack.core import config


@contextlib.contextmanager
def running_cloud(settings: config.Settings) -> Iterator[tuple]:
    """Build, migrate and bootstrap a cloud; yield (cloud, TestClient, passwords)."""
    from onestack import migrations
    from onestack.app import build

    cloud = build(settings)
    migrations.upgrade(cloud.engine)
    passwords = cloud.bootstrap()
    cloud.start_agents()
    try:
        with TestClient(cloud.asgi, base_url="http://127.0.0.1:8080") as http:
            yield cloud, http, passwords
    finally:
        cloud.close()
