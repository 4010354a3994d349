"""This thread's network namespace: enter another one for a while, or make a new one (libc setns/unshare).

A namespace change is per thread: the thread goes back to its own afterwards, and sockets made meanwhile
stay in the namespace they were made in. A thread that cannot go back ends (SystemExit): left in another
namespace, its next links, routes or sockets would be made in the wrong place.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _own() -> int:
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _back(own: int) -> None:
    if _libc.setns(own, CLONE_NEWNET) != 0:  # (never seen)
        raise SystemExit(f"setns back to the thread's own network namespace: {os.strerror(ctypes.get_errno())}")


@contextlib.contextmanager
def entered(target: int):
    """Run the body with this thread in the namespace of the descriptor ``target``."""
    own = _own()
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns: {os.strerror(error)}")
        try:
            yield
        finally:
            _back(own)
    finally:
        os.close(own)


@contextlib.contextmanager
def entered_named(name: str):
    """``entered`` for a named namespace (``ip netns``: /run/netns/<name>)."""
    target = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with entered(target):
            yield
    finally:
        os.close(target)


def unshared() -> int:
    """A new namespace, as an open descriptor (it lives while a process is in it or the descriptor is
    open); this thread stays in its own."""
    own = _own()
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"unshare(CLONE_NEWNET): {os.strerror(error)}")
        try:
            return _own()
        finally:
            _back(own)
    finally:
        os.close(own)
