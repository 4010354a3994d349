"""Tempest's compute and network tests of the interop guideline 2020.06 against ``onestack up`` on the real
backends (#5, #6): the container guest driver booting the bootstrap's busybox image and the linux network
data plane (a network and router per Tempest project, floating IPs on ``public``). SSH validation is on:
Tempest logs into the guests over their floating IPs with the server's key pair (dropbear in the image)
to read the hostname, the vCPUs and the uptime across a reboot, so every listed test runs, none skipped.
Everything Tempest and the bootstrap made is deleted and nothing is left in the kernel.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from onestack.core.testing import tempest
from onestack.core.testing.process import onestack_executable
from tests.e2e.conftest import Cli
from tests.e2e.test_tempest_compute import (
    GUIDELINE,
    tempest_venv,  # noqa: F401 (the shared fixture)
)

from .support import (
    assert_tempest_passed,
    skip_unless_guests_with_ssh,
    take_down_bootstrap_network,
    tempest_options,
)
from .test_container_servers import World

pytestmark = [pytest.mark.backend, pytest.mark.e2e]

# in the guideline, gone from today's Tempest (the router gateway test was folded into another)
GONE = ("tempest.api.network.test_routers.RoutersTest.test_update_router_unset_gateway",)


def test_interop_compute_and_network_tests_pass_on_the_real_backends(tmp_path, tempest_venv):  # noqa: F811
    skip_unless_guests_with_ssh()
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
                                     test_list=tests, allow_missing=True, options=tempest_options(cli, image, alt, **{
                                         "compute-feature-enabled": {
                                             "resize": "true", "cold_migration": "false", "live_migration": "false",
                                             "console_output": "true", "snapshot": "true", "pause": "true",
                                             "suspend": "true", "shelve": "true", "rescue": "true",
                                             "change_password": "false", "interface_attach": "false",
                                             "attach_encrypted_volume": "false", "config_drive": "true"}}))
        assert ws.missing == GONE
        proc = tempest.run(ws, concurrency=2, timeout=1500)
        cli.ok("image", "delete", alt)
        take_down_bootstrap_network(cli, world.kernel_leftovers)
    finally:
        left = world.stop()
    assert_tempest_passed(proc, len(expected) - len(GONE))
    assert not left, f"left behind: {left}\n{world.server.log_tail()}"
