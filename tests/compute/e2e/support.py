"""Helpers the real-guest e2e modules share (a plain module, not a conftest: no fixtures here)."""

from __future__ import annotations

import random
import subprocess
import time

import pytest


def sh(*cmd: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=check)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition", interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def free_cidrs(public_block: int, private_block: int) -> tuple[str, str]:
    """A public /24 in 10.<public_block>/16 and a private /26 in 10.<private_block>/16 that no route on this
    host uses (each module passes blocks of its own, so parallel clouds never clash)."""
    routes = sh("ip", "-4", "route", "show", "table", "all").stdout
    for _ in range(100):
        n = random.randrange(1, 250)
        public, private = f"10.{public_block}.{n}.0/24", f"10.{private_block}.{n}.0/26"
        if f"10.{public_block}.{n}." not in routes and f"10.{private_block}.{n}." not in routes:
            return public, private
    pytest.skip("no free test CIDR")


def take_down_bootstrap_network(admin, kernel_leftovers, timeout: float = 60.0, interval: float = 0.2) -> None:
    """Delete the first start's ``router1``, ``private`` and ``public`` through the API (``admin``: a CLI runner)
    and wait for the network agent to remove their kernel objects (``kernel_leftovers()`` empty)."""
    admin.ok("router", "remove", "subnet", "router1", "private-subnet")
    admin.ok("router", "unset", "--external-gateway", "router1")
    admin.ok("router", "delete", "router1")
    admin.ok("network", "delete", "private", "public")
    wait_for(lambda: not kernel_leftovers(), timeout, "the network agent to remove its kernel objects", interval)
