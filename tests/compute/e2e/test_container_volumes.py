"""Volumes in real servers: ``onestack up`` as root with the container guest driver and the file volume
backend, driven by the real ``openstack`` CLI.

A volume attached to a server is a block device ``/dev/vdb`` inside it: the guest makes a filesystem
and writes a file, the volume is detached and attached to a second server, which reads the same bytes
(also after a stop/start, where the device comes from the container's configuration).  A server boots
from a volume made from the busybox image, shows its boot on the console, writes to its root, and a
second server booted from the same volume after the first is deleted finds the file.  Nothing (guest,
mount, loop device) is left once everything is deleted.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time

import pytest

from onestack.core.testing.process import ServerProcess
from tests.compute.e2e.test_container_servers import World, connect, settle, wait_for
from tests.e2e.conftest import Cli

pytestmark = [pytest.mark.backend, pytest.mark.e2e]


class VolumeWorld(World):
    def __init__(self, base) -> None:
        super().__init__(base)
        self.server = ServerProcess(self.data, log_path=base / "server.log", env={
            "ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", "ONESTACK_COMPUTE_DRIVER": "container",
            "ONESTACK_NETWORK_DRIVER": "fake", "ONESTACK_VOLUME_DRIVER": "file"})


@pytest.fixture
def world(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (containers, loop devices)")
    for tool in ("lxc-start", "busybox", "losetup", "mkfs.ext4"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make install apt-installs it)")
    w = VolumeWorld(tmp_path)
    w.server.start(timeout=120)
    try:
        yield w
    finally:
        w.server.stop(timeout=30)
        left = w.guest_leftovers()
        if left:
            w.force_cleanup()
        assert not left, f"left behind: {left}\n{w.server.log_tail()}"


def volume_status(cli: Cli, name: str, status: str, timeout: float = 60.0) -> dict:
    return wait_for(lambda: (v := cli("volume", "show", name))["status"] == status and v, timeout,
                    f"volume {name} {status}")


def test_volume_moves_between_servers_and_server_boots_from_volume(world):
    demo = Cli(world.server.clouds_yaml, "onestack-demo")
    conn = connect(world.server.clouds_yaml, "onestack-demo")
    payload = secrets.token_hex(16)
    vm1 = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--nic", "none", "--wait", "vm1")
    vm2 = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--nic", "none", "--wait", "vm2")
    assert vm1["status"] == vm2["status"] == "ACTIVE"
    demo("volume", "create", "--size", "1", "data1")
    volume_status(demo, "data1", "available")

    # vm1: the volume is /dev/vdb; the guest formats it and writes a file
    demo.ok("server", "add", "volume", "vm1", "data1")
    vol = volume_status(demo, "data1", "in-use")
    assert vol["attachments"][0]["server_id"] == vm1["id"] and vol["attachments"][0]["device"] == "/dev/vdb"
    written = world.guest_sh(vm1["id"], f"mke2fs -q /dev/vdb && mkdir -p /mnt/v && mount /dev/vdb /mnt/v && "
                                        f"echo {payload} > /mnt/v/hello && umount /mnt/v && echo done")
    assert written.stdout.strip().endswith("done"), written.stdout + written.stderr
    lsblk = world.guest_sh(vm1["id"], "lsblk -lb --nodeps").stdout.splitlines()  # the image's, as util-linux's
    assert lsblk[0].split() == ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE"] and len(lsblk) == 2, lsblk
    assert lsblk[1].split()[0] == "vdb" and lsblk[1].split()[3] == str(1 << 30), lsblk
    shown = demo("server", "show", "vm1")
    assert "data1" in str(shown["volumes_attached"]) or vol["id"] in str(shown["volumes_attached"])

    # detached: vm1 has no device any more
    demo.ok("server", "remove", "volume", "vm1", "data1")
    volume_status(demo, "data1", "available")
    assert world.guest_sh(vm1["id"], "test -e /dev/vdb && echo present").stdout.strip() == ""

    # vm2 reads the same bytes, also after a stop/start
    demo.ok("server", "add", "volume", "vm2", "data1")
    volume_status(demo, "data1", "in-use")
    read = world.guest_sh(vm2["id"], "mkdir -p /mnt/v && mount /dev/vdb /mnt/v && cat /mnt/v/hello; umount /mnt/v")
    assert read.stdout.strip() == payload, read.stdout + read.stderr
    demo.ok("server", "stop", "vm2")
    assert settle(conn, vm2["id"]) == "SHUTOFF"
    demo.ok("server", "start", "vm2")
    assert settle(conn, vm2["id"]) == "ACTIVE"
    read = world.guest_sh(vm2["id"], "mount /dev/vdb /mnt/v && cat /mnt/v/hello; umount /mnt/v")
    assert read.stdout.strip() == payload, read.stdout + read.stderr

    # the volume is in use: it cannot be deleted; deleting the server releases it
    demo.fails("volume", "delete", "data1")
    demo.ok("server", "delete", "--wait", "vm1", "vm2")
    volume_status(demo, "data1", "available")

    # boot from a volume made from the busybox image (a root filesystem tarball: formatted on first boot)
    demo("volume", "create", "--size", "1", "--image", "busybox", "--bootable", "root1")
    volume_status(demo, "root1", "available")
    started = time.monotonic()
    bfv = demo("server", "create", "--volume", "root1", "--flavor", "c1.tiny", "--nic", "none", "--wait", "bfv1")
    assert bfv["status"] == "ACTIVE", bfv
    console = wait_for(lambda: "onestack-init: ready" in (out := demo.run("console", "log", "show", "bfv1").stdout)
                       and out, 30, "the boot on the console")
    assert "onestack-init: hostname bfv1" in console
    boot_seconds = time.monotonic() - started
    assert world.guest_sh(bfv["id"], f"echo {payload} > /root/kept && sync").returncode == 0
    assert volume_status(demo, "root1", "in-use")["attachments"][0]["device"] == "/dev/vda"
    demo.ok("server", "delete", "--wait", "bfv1")
    volume_status(demo, "root1", "available")
    bfv = demo("server", "create", "--volume", "root1", "--flavor", "c1.tiny", "--nic", "none", "--wait", "bfv2")
    assert bfv["status"] == "ACTIVE", bfv
    assert world.guest_sh(bfv["id"], "cat /root/kept").stdout.strip() == payload
    demo.ok("server", "delete", "--wait", "bfv2")

    # --boot-from-volume: the root volume is created from the image for the server
    bfi = demo("server", "create", "--image", "busybox", "--boot-from-volume", "1", "--flavor", "c1.tiny",
               "--nic", "none", "--wait", "bfv3")
    assert bfi["status"] == "ACTIVE", bfi
    root = demo("server", "show", "bfv3")["volumes_attached"]
    demo.ok("server", "delete", "--wait", "bfv3")
    for vol_id in [v["id"] for v in root] if isinstance(root, list) else []:
        volume_status(demo, vol_id, "available")
        demo.ok("volume", "delete", vol_id)
    demo.ok("volume", "delete", "data1", "root1")
    wait_for(lambda: not [v for v in demo("volume", "list") if v["Name"] in ("data1", "root1")], 60, "volumes gone")
    assert not world.guest_leftovers(), world.guest_leftovers()
    print(f"boot from volume (first boot, formats the volume): {boot_seconds:.2f}s")
