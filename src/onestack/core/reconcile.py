"""Agents converge desired state: a reconcile loop over keys, Kubernetes-controller style.

A ``Reconciler`` handles one kind of resource: given a key it re-reads the desired row, observes the
real state through its driver, takes one idempotent step and records status.  The ``Agent`` feeds it
keys from bus notices (``topic`` messages), from a periodic full resync (so lost messages are
harmless) and from its own requeues; the same key is never processed by two workers at once and
duplicates collapse while queued.  Exceptions requeue the key with exponential backoff.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from .bus import Bus

log = logging.getLogger(__name__)


class Requeue(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raise from ``reconcile`` to look at the key again after ``after`` seconds (work in progress)."""

    def __init__(self, after: float = 0.5) -> None:
        super().__init__(after)
        self.after = after


class Reconciler(Protocol):
    topic: str  # bus topic whose messages carry keys for this reconciler

    def pending_keys(self) -> Iterable[str]:
        """Every key that may need work (the periodic resync)."""

    def reconcile(self, key: str) -> None:
        """One idempotent step towards the desired state of ``key``."""


class WorkQueue:
    """Keys to process: deduplicated, never handed to two workers at once, with delayed requeues."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()  # re-added while active: queue again when done
        self._delayed: list[tuple[float, str]] = []
        self._closed = False

    def add(self, key: str, after: float = 0.0) -> None:
        with self._cond:
            if after > 0:
                heapq.heappush(self._delayed, (time.monotonic() + after, key))
            elif key in self._active:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)
            self._cond.notify()

    def get(self, timeout: float = 0.5) -> str | None:
        with self._cond:
            deadline = time.monotonic() + timeout
            while True:
                self._promote_due()
                if self._closed:
                    return None
                if self._queue:
                    key = self._queue.pop(0)
                    self._queued.discard(key)
                    self._active.add(key)
                    return key
                wait = deadline - time.monotonic()
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - time.monotonic())
                if deadline <= time.monotonic():
                    return None
                self._cond.wait(max(wait, 0.005))

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, key = heapq.heappop(self._delayed)
            if key in self._active:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)

    def done(self, key: str) -> None:
        with self._cond:
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queued.add(key)
                    self._queue.append(key)
                self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not (self._queue or self._active or self._delayed)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Agent:
    """Runs reconcilers on worker threads; ``onestack up`` starts one per host with every role."""

    def __init__(self, name: str, bus: Bus, reconcilers: Iterable[Reconciler], workers: int = 4,
                 resync_interval: float = 30.0, max_backoff: float = 30.0) -> None:
        self.name = name
        self.reconcilers = {r.topic: r for r in reconcilers}
        self.queue = WorkQueue()
        self.workers = workers
        self.resync_interval = resync_interval
        self.max_backoff = max_backoff
        self._failures: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        for topic in self.reconcilers:
            bus.subscribe(topic, self._on_message)

    def _on_message(self, topic: str, key: str) -> None:
        self.queue.add(f"{topic}\x00{key}")

    def resync(self) -> None:
        for topic, reconciler in self.reconcilers.items():
            try:
                for key in reconciler.pending_keys():
                    self.queue.add(f"{topic}\x00{key}")
            except Exception:
                log.exception("%s: resync of %s failed", self.name, topic)

    def start(self) -> None:
        self._stop.clear()
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"{self.name}-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        resync = threading.Thread(target=self._resync_loop, name=f"{self.name}-resync", daemon=True)
        resync.start()
        self._threads.append(resync)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.close()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests: True once nothing is queued, delayed or in progress."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.idle():
                return True
            time.sleep(0.01)
        return False

    def _resync_loop(self) -> None:
        self.resync()  # restart recovers in-flight work
        while not self._stop.wait(self.resync_interval):
            self.resync()

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get()
            if item is None:
                continue
            topic, _, key = item.partition("\x00")
            try:
                self.reconcilers[topic].reconcile(key)
                self._failures.pop(item, None)
            except Requeue as again:
                self.queue.add(item, after=again.after)
            except Exception:
                failures = self._failures.get(item, 0) + 1
                self._failures[item] = failures
                delay = min(0.1 * 2 ** failures, self.max_backoff)
                log.exception("%s: reconcile %s %s failed (attempt %d, retry in %.1fs)",
                              self.name, topic, key, failures, delay)
                self.queue.add(item, after=delay)
            finally:
                self.queue.done(item)
