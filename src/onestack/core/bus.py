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


class RabbitBus:
    """Wake-up hints shared by every onestack process through a RabbitMQ topic exchange.

    Each process binds its own exclusive, auto-deleted queue to every topic ("#"), so a hint
    published anywhere reaches all processes (e.g. every API process drops its token cache when an
    identity change commits).  Local subscribers get a process's own messages synchronously, never
    twice.  A broker outage only delays hints: the consumer reconnects, agents resync periodically.
    """

    def __init__(self, url: str, exchange: str = "onestack") -> None:
        import os
        import uuid

        from kombu import Connection, Exchange

        self.url = url
        self._local = InProcessBus()
        self._origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._exchange = Exchange(exchange, type="topic", durable=False)
        self._publish_conn = Connection(url)
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._consume, name="rabbit-bus", daemon=True)
        self._thread.start()

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._local.subscribe(topic, handler)

    def publish(self, topic: str, key: str) -> None:
        self._local.publish(topic, key)
        try:
            with self._publish_lock:
                producer = self._publish_conn.Producer(serializer="json")
                producer.publish(
                    {"key": key, "origin": self._origin},
                    exchange=self._exchange,
                    routing_key=topic,
                    declare=[self._exchange],
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0.1},
                )
        except Exception:  # hints only: a lost one is repaired by resyncs
            log.exception("could not publish %s on the message bus", topic)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._publish_conn.release()

    def _on_message(self, body, message) -> None:
        message.ack()
        if isinstance(body, dict) and body.get("origin") != self._origin:
            self._local.publish(message.delivery_info.get("routing_key", ""), str(body.get("key", "")))

    def _consume(self) -> None:
        from kombu import Connection, Consumer, Queue

        delay = 0.5
        while not self._stop.is_set():
            try:
                with Connection(self.url) as conn:
                    queue = Queue(f"onestack-{self._origin}", exchange=self._exchange, routing_key="#",
                                  exclusive=True, auto_delete=True, durable=False)
                    with Consumer(conn, queues=[queue], callbacks=[self._on_message], accept=["json"]):
                        self._ready.set()
                        delay = 0.5
                        while not self._stop.is_set():
                            try:
                                conn.drain_events(timeout=0.5)
                            except TimeoutError:  # socket.timeout is an alias of it
                                conn.heartbeat_check()
            except Exception:
                self._ready.clear()
                log.warning("message bus connection lost; retrying in %.1fs", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)


def make_bus(url: str) -> Bus:
    """The in-process bus when ``url`` is empty (all-in-one), RabbitMQ otherwise."""
    return RabbitBus(url) if url else InProcessBus()
