"""Ordered lanes on a shared thread pool: the stages of an upload (md5, the os_hash, the store write)
each see the blocks in order, while different stages and different uploads run in parallel.

A ``Lane`` runs what is submitted to it one item at a time, in submission order, on one thread of
the shared executor at a time; while items keep coming the same thread keeps draining them (no
re-submission per item).  Nothing here blocks the submitter.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, Future


class Lane:
    def __init__(self, pool: Executor) -> None:
        self.pool = pool
        self.lock = threading.Lock()
        self.queue: deque[tuple[Callable, tuple, Future]] = deque()
        self.busy = False

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        with self.lock:
            self.queue.append((fn, args, future))
            if self.busy:
                return future
            self.busy = True
        self.pool.submit(self._drain)
        return future

    def _drain(self) -> None:
        while True:
            with self.lock:
                if not self.queue:
                    self.busy = False
                    return
                fn, args, future = self.queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # delivered to whoever waits on the future
                future.set_exception(exc)


def all_of(futures: list[Future]) -> Future:
    """One future that completes when every one of ``futures`` has, failing with the first error."""
    combined: Future = Future()
    combined.set_running_or_notify_cancel()
    left = [len(futures)]
    lock = threading.Lock()

    def done(f: Future) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
            if combined.done():
                return
            exc = CancelledError() if f.cancelled() else f.exception()
            if exc is not None:
                combined.set_exception(exc)
            elif last:
                combined.set_result(None)

    for f in futures:
        f.add_done_callback(done)
    return combined
