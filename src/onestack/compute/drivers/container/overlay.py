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
import errno
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from . import mounts
from .errors import ContainerError

MIN_DISK_BYTES = 64 << 20
log = logging.getLogger(__name__)


def _run(*argv: str, timeout: float = 120) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise ContainerError(f"{argv[0]} failed: {(r.stderr or r.stdout).strip()[-400:]}")
    return r.stdout


def is_mounted(path: Path) -> bool:
    return os.path.realpath(path) in mount_points()


def mount_points() -> set[str]:
    """Every mount point of this mount namespace (as /proc/self/mountinfo spells them)."""
    with open("/proc/self/mountinfo") as f:
        return {line.split(" ", 5)[4] for line in f}


def _new_dir(path: Path) -> bool:
    """mkdir; True when the directory is new (so nothing can be mounted on it yet)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    return True


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


def drop_copies(mount_point: Path) -> None:
    """After our umount of ``mount_point``: take it out of every other mount namespace too. A process that
    unshared its mounts while it was mounted (``ip netns exec`` for a dnsmasq, of any cloud on the host:
    without systemd every mount is private, so no umount propagates) keeps its own copy, which holds the
    filesystem and its loop device; mounting the same disk file again would then run a second ext4 instance
    on it (data written just before a stop was lost). The kernel detaches every namespace's mounts on a
    directory that is removed, so the (empty) mount point is removed and made again."""
    with contextlib.suppress(OSError):
        mode = mount_point.stat().st_mode & 0o7777
        mount_point.rmdir()
        mount_point.mkdir(mode=mode)
        os.chmod(mount_point, mode)  # mkdir's mode goes through the umask


def format_disk(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
    # no reserved blocks: the guest gets the whole flavor disk
    _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", str(path))


def copy_sparse(src: Path, dest: Path) -> None:
    """Copy a sparse file's data extents only (SEEK_DATA/SEEK_HOLE + copy_file_range, no process):
    an empty ext4 of any size is well under a megabyte of data."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        fout.truncate(size)
        offset = 0
        while offset < size:
            try:
                offset = os.lseek(fin.fileno(), offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = os.lseek(fin.fileno(), offset, os.SEEK_HOLE)
            while offset < end:
                copied = os.copy_file_range(fin.fileno(), fout.fileno(), end - offset, offset, offset)
                if copied <= 0:
                    raise ContainerError(f"short copy of {src} at {offset}")
                offset += copied


class DiskTemplates:
    """One empty, formatted root disk per size, made once (mkfs) and copied for each new guest: a copy of
    its few hundred kB of data is a fraction of a millisecond, without the mkfs process (tens of ms of
    CPU, more under load) on the boot path. A template holds nothing of any guest; there is one file per
    flavor disk size in use, and nothing runs in the background."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def template(self, size: int) -> Path:
        ready = self.path / f"ext4-{size}.img"
        if ready.exists():
            return ready
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(".*.tmp"):  # a format a crashed process did not finish
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 60:
                    stale.unlink()
        tmp = self.path / f".{uuid.uuid4().hex}.tmp"
        try:
            format_disk(tmp, size)
            tmp.rename(ready)  # atomic; a concurrent first boot of the same size made an equal one
        finally:
            tmp.unlink(missing_ok=True)
        return ready

    def create(self, size: int, dest: Path) -> None:
        """A fresh empty root disk of ``size`` bytes at ``dest``."""
        tmp = dest.with_name(f".{dest.name}.tmp")
        try:
            copy_sparse(self.template(size), tmp)
            tmp.rename(dest)
        finally:
            tmp.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class RootDisk:
    def __init__(self, guest_dir: Path) -> None:
        self.dir = guest_dir
        self.image = guest_dir / "disk.img"
        self.disk = guest_dir / "disk"
        self.rootfs = guest_dir / "rootfs"
        self.kept = guest_dir / "disk.pre-resize.img"  # the disk as it was before a resize, until confirm/revert

    @property
    def upper(self) -> Path:
        return self.disk / "upper"

    def create(self, size_bytes: int, templates: DiskTemplates | None = None) -> None:
        """A fresh, empty upper layer of ``size_bytes`` (replacing any previous one: rebuild)."""
        if self.image.exists() or self.disk.exists() or self.rootfs.exists():  # (else nothing is mounted)
            self.unmount()
        self.dir.mkdir(parents=True, exist_ok=True)
        size = max(size_bytes, MIN_DISK_BYTES)
        if templates is not None:
            templates.create(size, self.image)
        else:
            format_disk(self.image, size)

    def size(self) -> int:
        return self.image.stat().st_size

    def mount(self, lowers: list[Path]) -> Path:
        """Mount disk.img and the overlay; returns the root filesystem path."""
        if not self.image.exists():
            raise ContainerError(f"root disk {self.image} is missing")
        # mount points made just now hold no mount: the mount table (long on a busy host) is read only
        # when one of them was there already
        new_disk, new_rootfs = _new_dir(self.disk), _new_dir(self.rootfs)
        mounted = set() if new_disk and new_rootfs else mount_points()
        if new_disk or os.path.realpath(self.disk) not in mounted:
            mounts.mount_loop(self.image, self.disk, "ext4", mounts.MS_NOSUID | mounts.MS_NODEV)
        for sub in ("upper", "work"):
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.disk / sub)
        if new_rootfs or os.path.realpath(self.rootfs) not in mounted:
            lower = ":".join(str(p) for p in lowers)
            mounts.mount("overlay", self.rootfs, "overlay", 0,
                         f"lowerdir={lower},upperdir={self.disk / 'upper'},workdir={self.disk / 'work'}")
        return self.rootfs

    def unmount(self) -> None:
        """Unmount everything below the guest directory; the loop device goes with the last mount."""
        for mp in mounts_below(self.dir):
            with contextlib.suppress(ContainerError):
                mounts.umount(mp)
            if is_mounted(Path(mp)):
                mounts.umount(mp, lazy=True)
            if mp != os.path.realpath(self.dir):
                drop_copies(Path(mp))
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
                mounts.detach_loop(dev)
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

    def keep(self) -> None:
        """A copy of the (unmounted) disk as it is now, for a revert (sparse, or a reflink where the
        filesystem has them); replaces an older copy."""
        self.unmount()
        tmp = self.kept.with_name(self.kept.name + ".tmp")
        _run("cp", "--sparse=always", "--reflink=auto", str(self.image), str(tmp))
        tmp.replace(self.kept)

    def restore(self) -> bool:
        """The kept copy becomes the disk again (the caller stopped the guest); False without one."""
        if not self.kept.exists():
            return False
        self.unmount()
        self.kept.replace(self.image)
        return True

    def drop_kept(self) -> None:
        self.kept.unlink(missing_ok=True)
        self.kept.with_name(self.kept.name + ".tmp").unlink(missing_ok=True)

    def loop_devices(self) -> list[str]:
        if not self.image.exists():
            return []
        return mounts.loop_devices(self.image)
