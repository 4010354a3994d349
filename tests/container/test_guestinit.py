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

        lease.netns, lease.hook = name, hook
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


def test_boot_lease_is_recorded_renewal_keeps_the_address_and_a_new_one_replaces_it(netns):
    """At boot the init makes an empty lease record per DHCP NIC: udhcpc's first ``deconfig`` has nothing to
    flush (no ``ip`` run), ``bound`` records the address, a renewal with the same address leaves it in place,
    a different one replaces it, and ``deconfig`` after a lease flushes it. Run in a mount namespace of its
    own, with a private /run (the hook's records are the guest's, never the host's)."""
    script = f"""mount -t tmpfs tmpfs /run || exit 1
: > /run/onestack-lease.eth0
h() {{ env interface=eth0 mask=24 router=10.0.0.1 "$@" busybox sh {netns.hook} $phase; }}
show() {{ echo "$1: [$(cat /run/onestack-lease.eth0)] $(ip -4 -o addr show dev eth0 | awk '{{print $4}}')"; }}
phase=deconfig h; show deconfig
phase=bound h ip=10.0.0.5; show bound
phase=renew h ip=10.0.0.5; show renew
phase=renew h ip=10.0.0.6; show new
phase=deconfig h; show lost
"""
    out = subprocess.run(["nsenter", f"--net=/run/netns/{netns.netns}", "unshare", "--mount", "--propagation",
                          "private", "sh", "-c", script], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"]})
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert lines["deconfig"].split() == ["[]"], out
    assert lines["bound"].split() == ["[10.0.0.5/24]", "10.0.0.5/24"], out
    assert lines["renew"].split() == ["[10.0.0.5/24]", "10.0.0.5/24"], out
    assert lines["new"].split() == ["[10.0.0.6/24]", "10.0.0.6/24"], out
    assert lines["lost"].split() == ["[]"], out
    assert not os.path.exists("/run/onestack-lease.eth0")
