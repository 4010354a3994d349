"""Throwaway RabbitMQ vhosts on the local broker, one per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

BROKER = os.environ.get("ONESTACK_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")


def available() -> bool:
    return shutil.which("rabbitmqctl") is not None


@contextlib.contextmanager
def throwaway_vhost() -> Iterator[str]:
    vhost = f"onestack_test_{uuid.uuid4().hex[:12]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        yield f"{BROKER}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
