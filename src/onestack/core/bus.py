"""The message bus: wake-up hints ``(topic, key)``, never the source of truth.

Losing a message is harmless (agents resync periodically); duplicates collapse in work queues.
``InProcessBus`` serves the all-in-one process; a RabbitMQ bus implements the same protocol when
onestack is scaled out.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Handler = Callable[[str, str], None]


class Bus(Protocol):
    def publish(self, topic: str, key: str) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)

    def publish(self, topic: str, key: str) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(topic, key)
            except Exception:  # a subscriber's bug must not fail the publisher's request
                log.exception("bus handler for %s failed", topic)
