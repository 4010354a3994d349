"""A guest's root filesystem: overlayfs over read-only lower layers, with the writable upper layer on
a sized, loop-mounted ext4 file so the flavor's root disk is enforced (a full disk is ENOSPC in the
guest, never a full host).

Layout under the guest's directory::

    disk.img      sparse ext4 file, flavor root disk size
    disk/         disk.img loop-mounted (autoclear loop device): upper/ and work/ inside
    rootfs/       the overlay mount (what the guest sees as /)

Every call is idempotent, so an agent restarted after a crash (or a host reboot, which drops the
mounts) simply calls ``mount`` again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from .errors import ContainerError

MIN_DISK_BYTES = 64 << 20
log = logging.getLogger(__name__)


def _run(*argv: str, timeout: float = 120) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise ContainerError(f"{argv[0]} failed: {(r.stderr or r.stdout).strip()[-400:]}")
    return r.stdout


def is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below ``path`` (deepest first)."""
    target = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == target or mp.startswith(target + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def format_disk(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
    # no reserved blocks: the guest gets the whole flavor disk
    _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", str(path))


class DiskPool:
    """A few empty, formatted root disks per size, made ahead so a boot takes one with a rename instead
    of running mkfs (tens of ms, more under load) on its critical path; refilled in the background.
    A disk is only a sparse file with an empty ext4 on it: nothing of any guest is ever in the pool."""

    def __init__(self, path: Path, depth: int = 2) -> None:
        self.path = Path(path)
        self.depth = depth
        self._lock = threading.Lock()
        self._filling: set[int] = set()

    def take(self, size: int, dest: Path) -> bool:
        """Move a ready disk of ``size`` bytes to ``dest``; False when none is ready. Refills either way."""
        taken = False
        with contextlib.suppress(OSError):
            for ready in sorted((self.path / str(size)).glob("*.img")):
                try:
                    ready.rename(dest)  # atomic: two boots never get the same disk
                except FileNotFoundError:
                    continue
                taken = True
                break
        self._refill(size)
        return taken

    def _refill(self, size: int) -> None:
        with self._lock:
            if size in self._filling:
                return
            self._filling.add(size)
        threading.Thread(target=self._fill, args=(size,), name=f"disk-pool-{size >> 20}M", daemon=True).start()

    def _fill(self, size: int) -> None:
        d = self.path / str(size)
        try:
            d.mkdir(parents=True, exist_ok=True)
            for stale in d.glob(".*.tmp"):  # a fill a previous process did not finish
                if time.time() - stale.stat().st_mtime > 60:
                    stale.unlink(missing_ok=True)
            while len(list(d.glob("*.img"))) < self.depth:
                tmp = d / f".{uuid.uuid4().hex}.tmp"
                try:
                    format_disk(tmp, size)
                    tmp.rename(d / f"{uuid.uuid4().hex}.img")
                finally:
                    tmp.unlink(missing_ok=True)
        except (OSError, ContainerError) as exc:
            log.warning("could not refill the disk pool (%d bytes): %s", size, exc)
        finally:
            with self._lock:
                self._filling.discard(size)

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class RootDisk:
    def __init__(self, guest_dir: Path) -> None:
        self.dir = guest_dir
        self.image = guest_dir / "disk.img"
        self.disk = guest_dir / "disk"
        self.rootfs = guest_dir / "rootfs"

    @property
    def upper(self) -> Path:
        return self.disk / "upper"

    def create(self, size_bytes: int, pool: DiskPool | None = None) -> None:
        """A fresh, empty upper layer of ``size_bytes`` (replacing any previous one: rebuild)."""
        self.unmount()
        self.dir.mkdir(parents=True, exist_ok=True)
        size = max(size_bytes, MIN_DISK_BYTES)
        if pool is not None and pool.take(size, self.image):
            return
        format_disk(self.image, size)

    def size(self) -> int:
        return self.image.stat().st_size

    def mount(self, lowers: list[Path]) -> Path:
        """Mount disk.img and the overlay; returns the root filesystem path."""
        if not self.image.exists():
            raise ContainerError(f"root disk {self.image} is missing")
        self.disk.mkdir(exist_ok=True)
        self.rootfs.mkdir(exist_ok=True)
        if not is_mounted(self.disk):
            _run("mount", "-t", "ext4", "-o", "loop,nosuid,nodev", str(self.image), str(self.disk))
        (self.disk / "upper").mkdir(exist_ok=True)
        (self.disk / "work").mkdir(exist_ok=True)
        if not is_mounted(self.rootfs):
            lower = ":".join(str(p) for p in lowers)
            _run("mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={lower},upperdir={self.disk / 'upper'},workdir={self.disk / 'work'}", str(self.rootfs))
        return self.rootfs

    def unmount(self) -> None:
        """Unmount everything below the guest directory; the loop device goes with the last mount."""
        for mp in mounts_below(self.dir):
            with contextlib.suppress(ContainerError):
                _run("umount", mp)
            if is_mounted(Path(mp)):
                _run("umount", "-l", mp)
        self._detach_loops()

    def _detach_loops(self, timeout: float = 10.0) -> None:
        """The kernel frees an autoclear loop device asynchronously after the last umount (and a
        mount namespace being cloned at that moment holds it briefly): detach and poll until gone."""
        deadline = time.monotonic() + timeout
        while self.image.exists():
            devs = self.loop_devices()
            if not devs:
                return
            for dev in devs:
                subprocess.run(["losetup", "-d", dev], capture_output=True)
            if time.monotonic() > deadline:
                # still referenced (e.g. by a mount namespace being torn down): losetup -d has set
                # autoclear, so the kernel frees it with its last user; do not fail the caller
                log.warning("loop devices %s of %s still busy; left to autoclear", devs, self.image)
                return
            time.sleep(0.02)

    def resize(self, size_bytes: int, lowers: list[Path]) -> None:
        """Grow the root disk (offline: ext4 online resize needs CAP_SYS_RESOURCE, which root may lack).
        The caller stops the guest first. Shrinking is refused."""
        if size_bytes < self.size():
            raise ContainerError("a root disk cannot shrink")
        if size_bytes == self.size():
            return
        self.unmount()
        with open(self.image, "r+b") as f:
            f.truncate(size_bytes)
        subprocess.run(["e2fsck", "-f", "-p", str(self.image)], capture_output=True)  # rc 1 = fixed, fine
        _run("resize2fs", "-f", str(self.image))
        self.mount(lowers)

    def loop_devices(self) -> list[str]:
        if not self.image.exists():
            return []
        out = subprocess.run(["losetup", "-j", str(self.image)], capture_output=True, text=True).stdout
        return [line.split(":", 1)[0] for line in out.splitlines()]
