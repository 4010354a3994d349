"""Root disks: copies of one formatted template per size, and loop mounts made by system calls."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from onestack.compute.drivers.container import mounts
from onestack.compute.drivers.container.overlay import DiskTemplates, RootDisk, is_mounted, mounts_below
from onestack.compute.drivers.container.rootfs import sniff
from onestack.compute.drivers.container.runtime import Runtime

from .conftest import need_root

pytestmark = pytest.mark.backend


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_no_loop(image: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout  # autoclear: the kernel frees the device just after the umount
    while mounts.loop_devices(image):
        assert time.monotonic() < deadline, f"loop devices left on {image}: {mounts.loop_devices(image)}"
        time.sleep(0.05)


def test_template_copies_are_fresh_independent_disks_of_the_flavor_size(tmp_path):
    need_root()
    templates = DiskTemplates(tmp_path / "templates")
    disks = [RootDisk(tmp_path / f"g{i}") for i in range(3)]
    sizes = [64 << 20, 64 << 20, 96 << 20]
    for disk, size in zip(disks, sizes, strict=True):
        disk.create(size, templates)
    assert [d.size() for d in disks] == sizes and all(sniff(d.image) == "ext4" for d in disks)
    made = {p.name for p in (tmp_path / "templates").iterdir()}
    assert made == {f"ext4-{64 << 20}.img", f"ext4-{96 << 20}.img"}  # one per size, nothing half-made
    template = tmp_path / "templates" / f"ext4-{64 << 20}.img"
    before = _digest(template)
    assert os.stat(disks[0].image).st_blocks * 512 < 8 << 20  # sparse: the copy has the data, not the size
    try:
        lower = tmp_path / "lower"
        lower.mkdir()
        for disk in disks[:2]:
            disk.mount([lower])
        (disks[0].rootfs / "written-by-g0").write_text("guest data")
        assert not (disks[1].rootfs / "written-by-g0").exists()
        big = disks[1].rootfs / "fill"
        with pytest.raises(OSError, match="No space left"), open(big, "wb") as f:  # the size is a real limit
            for _ in range(80):
                f.write(b"\0" * (1 << 20))
                f.flush()
                os.fsync(f.fileno())
    finally:
        for disk in disks:
            disk.unmount()
    assert _digest(template) == before  # a guest never writes into the template
    for disk in disks:
        assert not mounts_below(disk.dir)
        _wait_no_loop(disk.image)
    disks[0].mount([lower])  # the data lives in the guest's own disk across mounts
    try:
        assert (disks[0].rootfs / "written-by-g0").read_text() == "guest data"
    finally:
        disks[0].unmount()
    _wait_no_loop(disks[0].image)


def test_a_format_left_by_a_crash_is_removed_and_the_old_disk_pool_goes(tmp_path, prefix):
    need_root()
    templates = DiskTemplates(tmp_path / "disk-templates")
    templates.path.mkdir()
    stale = templates.path / ".0123abcd.tmp"
    stale.write_bytes(b"half a mkfs")
    os.utime(stale, (time.time() - 600, time.time() - 600))
    templates.template(64 << 20)
    assert sorted(p.name for p in templates.path.iterdir()) == [f"ext4-{64 << 20}.img"]
    pool = tmp_path / "disk-pool" / str(64 << 20)  # what the driver kept before the templates
    pool.mkdir(parents=True)
    (pool / "ready.img").write_bytes(b"")
    Runtime(tmp_path / "guests", prefix, disk_templates=True)
    assert not (tmp_path / "disk-pool").exists()


def test_loop_mounts_by_system_call_from_many_threads_leave_nothing(tmp_path):
    need_root()
    templates = DiskTemplates(tmp_path / "templates")
    images, targets = [], []
    for i in range(6):
        images.append(tmp_path / f"d{i}.img")
        templates.create(64 << 20, images[-1])
        targets.append(tmp_path / f"m{i}")
        targets[-1].mkdir()
    errors: list[BaseException] = []

    def mount(i: int) -> None:
        try:
            mounts.mount_loop(images[i], targets[i], "ext4", mounts.MS_NOSUID | mounts.MS_NODEV)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=mount, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        devices = [mounts.loop_devices(image) for image in images]
        assert all(len(d) == 1 for d in devices) and len({d[0] for d in devices}) == 6  # one device each
        assert all(is_mounted(t) for t in targets)
    finally:
        for t in targets:
            if is_mounted(t):
                mounts.umount(t)
    for image in images:
        _wait_no_loop(image)
    with pytest.raises(Exception, match="umount"):
        mounts.umount(targets[0])  # not mounted any more: the error names the call


def test_unmount_takes_the_disk_out_of_mount_namespaces_cloned_while_it_was_mounted(tmp_path):
    """A process that unshares its mounts while a guest runs (``ip netns exec`` for a dnsmasq of any cloud on
    the host: without systemd every mount is private) holds its own copy of the guest's disk mount. The
    unmount must take that copy out too: otherwise the loop device stays bound and the next mount of the
    same disk.img is a second ext4 instance on one file (data written just before a stop was lost)."""
    need_root()
    disk = RootDisk(tmp_path / "g")
    disk.create(64 << 20, DiskTemplates(tmp_path / "templates"))
    lower = tmp_path / "lower"
    lower.mkdir()
    disk.mount([lower])
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "600"])
    try:
        mark = str(disk.disk)
        wait = time.monotonic() + 30
        while not Path(f"/proc/{holder.pid}/mountinfo").exists() or mark not in Path(
                f"/proc/{holder.pid}/mountinfo").read_text() or os.readlink(f"/proc/{holder.pid}/ns/mnt") == \
                os.readlink("/proc/self/ns/mnt"):
            assert time.monotonic() < wait, "unshare did not start"
            time.sleep(0.02)
        (disk.rootfs / "marker").write_text("kept")
        disk.unmount()
        assert mark not in Path(f"/proc/{holder.pid}/mountinfo").read_text()
        assert not mounts.loop_devices(disk.image)  # freed at once, not left to the holder
        disk.mount([lower])
        try:
            assert (disk.rootfs / "marker").read_text() == "kept"
            assert len(mounts.loop_devices(disk.image)) == 1
        finally:
            disk.unmount()
    finally:
        holder.kill()
        holder.wait()
    _wait_no_loop(disk.image)
