"""``onestack image build debian`` for real, opt-in (``ONESTACK_TEST_DEBIAN=1``): debootstrap from the
host's apt mirror (needs it reachable; 2-4 minutes on 2 cores, ~40 MB downloaded unless the .debs are
in ``ONESTACK_TEST_CACHE``/debian-debs), upload, then a container server booted from it on ``private``
with a key pair and a user_data script gets its hostname, its DHCP address, root's authorized key,
runs the script, and answers SSH with that key (dropbear, from the network's DHCP namespace)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onestack.core.testing.process import onestack_executable
from tests.e2e.conftest import Cli

from .support import sh, take_down_bootstrap_network, wait_for
from .test_container_servers import World

pytestmark = [pytest.mark.backend, pytest.mark.e2e]


def _debs_cache() -> Path:
    return Path(os.environ.get("ONESTACK_TEST_CACHE") or Path.home() / ".cache" / "onestack-test") / "debian-debs"


@pytest.fixture
def dworld(tmp_path):
    if os.environ.get("ONESTACK_TEST_DEBIAN") != "1":
        pytest.skip("opt-in: ONESTACK_TEST_DEBIAN=1 (runs debootstrap from the host's mirror: minutes)")
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, containers, namespaces)")
    for tool in ("lxc-start", "busybox", "dnsmasq", "debootstrap", "ssh"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make install apt-installs it)")
    w = World(tmp_path)
    debs = w.data / "compute" / "test-images" / "debian-debs"
    if _debs_cache().is_dir():
        shutil.copytree(_debs_cache(), debs)
    r = subprocess.run([sys.executable, "-m", "onestack.cli", "image", "build", "debian", "--data-dir", str(w.data)],
                       capture_output=True, text=True, timeout=1200, env={**os.environ, **w.server.env})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "this takes a few minutes" in r.stdout and "I: Base system installed successfully." in r.stdout, r.stdout
    shutil.copytree(debs, _debs_cache(), dirs_exist_ok=True)
    w.server.start(timeout=120)
    try:
        yield w
    finally:
        w.server.stop(timeout=30)
        left = w.guest_leftovers() + w.kernel_leftovers()
        if left:
            w.force_cleanup()
        assert not left, f"left behind: {left}\n{w.server.log_tail()}"


def test_debian_image_boots_configured_and_answers_ssh(dworld):
    w = dworld
    demo = Cli(w.server.clouds_yaml, "onestack-demo")
    admin = Cli(w.server.clouds_yaml, "onestack")
    image = demo("image", "show", "debian")
    assert image["status"] == "active" and image["visibility"] == "public"
    assert image["disk_format"] == "raw" and image["container_format"] == "compressed"
    props = image["properties"]
    assert props["os_distro"] == "debian" and props["os_version"].isdigit() and props["hw_architecture"]

    key = w.data.parent / "k.pem"
    demo.run("keypair", "create", "--private-key", str(key), "k")
    user_data = w.data.parent / "ud.sh"
    user_data.write_text("#!/bin/sh\ncat /etc/debian_version > /root/user-data-ran\n")
    vm = demo("server", "create", "--image", "debian", "--flavor", "c1.tiny", "--network", "private",
              "--key-name", "k", "--user-data", str(user_data), "--wait", "deb1")
    assert vm["status"] == "ACTIVE", vm
    (ip,) = demo("server", "show", vm["id"])["addresses"]["private"]
    wait_for(lambda: w.guest_ip(vm["id"]) == ip, 60, f"DHCP lease {ip}")
    console = demo.run("console", "log", "show", "deb1").stdout
    assert "onestack-init: hostname deb1" in console and "ssh key installed" in console, console
    assert w.guest_sh(vm["id"], "hostname").stdout.strip() == "deb1"
    assert w.guest_sh(vm["id"], "cat /root/.ssh/authorized_keys").stdout.startswith(("ssh-", "ecdsa-"))
    assert "ID=debian" in w.guest_sh(vm["id"], "cat /etc/os-release").stdout
    ran = wait_for(lambda: w.guest_sh(vm["id"], "cat /root/user-data-ran").stdout.strip(), 30, "user_data")
    assert ran[:2].isdigit(), ran

    # SSH with the key pair, from the network's DHCP namespace (the host's side of the tenant network)
    demo.ok("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "--ingress", "default")
    net = demo("network", "show", "private")["id"]
    ns = next(n for n in sh("ip", "netns", "list").stdout.split() if n.endswith(f"-dhcp-{net}"))
    key.chmod(0o600)

    def ssh():
        r = sh("ip", "netns", "exec", ns, "ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", f"root@{ip}",
               "hostname; cat /etc/debian_version")
        return r.returncode == 0 and r
    out = wait_for(ssh, 60, f"ssh root@{ip}", interval=1).stdout.split()
    assert out[0] == "deb1" and out[1][:2].isdigit(), out

    demo.ok("server", "delete", "--wait", "deb1")
    pruned = sh(onestack_executable(), "admin", "image-cache", "prune", "--max-age", "0", "--data-dir", str(w.data))
    assert "removed" in pruned.stdout, pruned.stdout + pruned.stderr
    take_down_bootstrap_network(admin, w.kernel_leftovers)
