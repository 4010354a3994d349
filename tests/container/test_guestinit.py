"""The guest init's DHCP hook (``init bound|renew``) run in a throwaway network namespace (backend: root)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

from onestack.compute.drivers.container.guestinit import INIT_SCRIPT

pytestmark = pytest.mark.backend


@pytest.fixture
def netns(tmp_path):
    if os.geteuid() != 0 or not shutil.which("busybox"):
        pytest.skip("needs root and busybox")
    name = f"osgi{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for i in (0, 1):
            subprocess.run(["ip", "-n", name, "link", "add", f"eth{i}", "type", "veth", "peer", "name", f"p{i}"],
                           check=True)
            for dev in (f"eth{i}", f"p{i}"):
                subprocess.run(["ip", "-n", name, "link", "set", dev, "up"], check=True)
        hook = tmp_path / "init"
        hook.write_text(INIT_SCRIPT.replace("/dev/console", "/dev/null"))  # (the host's console stays quiet)

        def lease(interface: str, **env: str) -> str:
            subprocess.run(["ip", "netns", "exec", name, "busybox", "sh", str(hook), "bound"], check=True,
                           env={"PATH": os.environ["PATH"], "interface": interface, "mask": "24", **env})
            return subprocess.run(["ip", "-n", name, "route"], capture_output=True, text=True).stdout

        yield lease
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_default_route_stays_with_the_lowest_numbered_nic(netns):
    """A NIC leased after eth0 (hot-plugged, or slower at boot) gets its address but not the default route
    (the floating IP's replies would leave by it); eth0 takes the route back whenever its lease comes later."""
    routes = netns("eth1", ip="10.1.0.5", router="10.1.0.1")
    assert "default via 10.1.0.1 dev eth1" in routes  # the only one so far
    routes = netns("eth0", ip="10.0.0.5", router="10.0.0.1")
    assert "default via 10.0.0.1 dev eth0" in routes and "dev eth1 proto" in routes
    routes = netns("eth1", ip="10.1.0.5", staticroutes="0.0.0.0/0 10.1.0.1 192.0.2.0/24 10.1.0.2")
    assert "default via 10.0.0.1 dev eth0" in routes
    assert "192.0.2.0/24 via 10.1.0.2 dev eth1" in routes  # a route only it has is taken
