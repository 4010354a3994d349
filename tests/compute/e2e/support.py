"""Helpers the real-guest e2e modules share (a plain module, not a conftest: no fixtures here)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import time

import pytest

from onestack.compute.drivers.container import imagebuild


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


def skip_unless_guests_with_ssh() -> None:
    """Skip unless containers can boot here and the test image can have an SSH server (Tempest validation)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (containers, namespaces)")
    for tool in ("lxc-start", "busybox", "dnsmasq"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make install apt-installs it)")
    if not imagebuild.sshd_files():
        pytest.skip("no dropbear for the test image's SSH server (apt-get install dropbear-bin)")


def tempest_options(cli, image: str, image_alt: str, **sections: dict) -> dict:
    """tempest.conf sections for a run against a cloud on the real backends (``cli``: a CLI runner): a network
    and router per Tempest project, floating IPs on ``public``, SSH validation into the guests; ``sections``
    add to or override them."""
    options = {
        "compute": {"image_ref": image, "image_ref_alt": image_alt, "flavor_ref": "c1", "flavor_ref_alt": "42",
                    "build_timeout": "120", "max_microversion": "latest"},
        "auth": {"create_isolated_networks": "true"},
        "network": {"public_network_id": cli("network", "show", "public")["id"], "floating_network_name": "public"},
        "validation": {"run_validation": "true", "connect_method": "floating", "auth_method": "keypair",
                       "image_ssh_user": "root", "ssh_key_type": "rsa",  # Nova's generated keys are RSA
                       "connect_timeout": "30", "ssh_timeout": "120", "ping_timeout": "60"},
    }
    for name, values in sections.items():
        options[name] = {**options.get(name, {}), **values}
    return options


def assert_tempest_passed(proc: subprocess.CompletedProcess, count: int) -> None:
    """A Tempest run that passed ``count`` tests and skipped none."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert re.search(rf"Passed: {count}\b", out) and re.search(r"Skipped: 0\b", out), out[-3000:]
