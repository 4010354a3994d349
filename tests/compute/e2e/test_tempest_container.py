"""Tempest's compute and network tests of the interop guideline 2020.06 against ``onestack up`` on the real
backends (#5, #6): the container guest driver booting the bootstrap's busybox image and the linux network
data plane (a network and router per Tempest project, floating IPs on ``public``). SSH validation is on:
Tempest logs into the guests over their floating IPs with the server's key pair (dropbear in the image)
to read the hostname, the vCPUs and the uptime across a reboot, so every listed test runs, none skipped.
Everything Tempest and the bootstrap made is deleted and nothing is left in the kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from onestack.compute.drivers.container import imagebuild
from onestack.core.testing import tempest
from onestack.core.testing.process import onestack_executable
from tests.e2e.conftest import Cli
from tests.e2e.test_tempest_compute import (
    GUIDELINE,
    tempest_venv,  # noqa: F401 (the shared fixture)
)

from .test_container_servers import World

pytestmark = [pytest.mark.backend, pytest.mark.e2e]

# in the guideline, gone from today's Tempest (the router gateway test was folded into another)
GONE = ("tempest.api.network.test_routers.RoutersTest.test_update_router_unset_gateway",)
BOOTSTRAP_TEARDOWN = (("router", "remove", "subnet", "router1", "private-subnet"),
                      ("router", "unset", "--external-gateway", "router1"), ("router", "delete", "router1"),
                      ("network", "delete", "private", "public"))


def test_interop_compute_and_network_tests_pass_on_the_real_backends(tmp_path, tempest_venv):  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("needs root (containers, namespaces)")
    for tool in ("lxc-start", "busybox", "dnsmasq"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make install apt-installs it)")
    if not imagebuild.sshd_files():
        pytest.skip("no dropbear for the test image's SSH server (apt-get install dropbear-bin)")
    expected = [line.strip() for line in GUIDELINE.read_text().splitlines()
                if line.startswith(("tempest.api.compute.", "tempest.api.network."))]
    assert len(expected) == 81 + 64
    tests = tmp_path / "tests.txt"
    tests.write_text("\n".join(expected) + "\n")
    world = World(tmp_path, blocks=(221, 220))
    world.server.start(timeout=120)
    cli = Cli(world.server.clouds_yaml)
    try:
        image = cli("image", "show", "busybox")["id"]  # the bootstrap's
        # a second image to rebuild to and to filter by (the same tree, uploaded again)
        out = subprocess.run([onestack_executable(), "image", "build", "busybox", "--name", "busybox-alt", "--force",
                              "--data-dir", str(world.data)], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        alt = re.search(r"image busybox-alt (\S+):", out.stdout).group(1)
        ws = tempest.write_workspace(world.server.clouds_yaml, tmp_path / "tempest", tempest_venv,
                                     test_list=tests, allow_missing=True, options={
            "compute": {"image_ref": image, "image_ref_alt": alt, "flavor_ref": "c1", "flavor_ref_alt": "42",
                        "build_timeout": "120", "max_microversion": "latest"},
            "auth": {"create_isolated_networks": "true"},  # a network and router per project
            "network": {"public_network_id": cli("network", "show", "public")["id"],
                        "floating_network_name": "public"},
            "compute-feature-enabled": {"resize": "true", "cold_migration": "false", "live_migration": "false",
                                        "console_output": "true", "snapshot": "true", "pause": "true",
                                        "suspend": "true", "shelve": "true", "rescue": "true",
                                        "change_password": "false", "interface_attach": "false",
                                        "attach_encrypted_volume": "false", "config_drive": "true"},
            "validation": {"run_validation": "true", "connect_method": "floating", "auth_method": "keypair",
                           "image_ssh_user": "root", "ssh_key_type": "rsa",  # Nova's generated keys are RSA
                           "connect_timeout": "30", "ssh_timeout": "120", "ping_timeout": "60"},
        })
        assert ws.missing == GONE
        proc = tempest.run(ws, concurrency=2, timeout=1500)
        cli.ok("image", "delete", alt)
        for args in BOOTSTRAP_TEARDOWN:
            cli.ok(*args)
    finally:
        world.server.stop(timeout=30)
        left = world.guest_leftovers() + world.kernel_leftovers()
        if left:
            world.force_cleanup()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    ran = len(expected) - len(GONE)
    assert re.search(rf"Passed: {ran}\b", out) and re.search(r"Skipped: 0\b", out), out[-3000:]
    assert not left, f"left behind: {left}\n{world.server.log_tail()}"
