"""mount(2), umount2(2) and loop devices as system calls, not by running mount/umount/losetup.

Every guest boot mounts its root disk (a loop device) and its overlay, and every stop unmounts them: as
tools that is a fork and exec of mount (and the losetup work inside it) per step, several milliseconds
of CPU each and far more on a busy host. The calls here do the same in a few microseconds:

* ``attach_loop`` takes a free loop device (``LOOP_CTL_GET_FREE``) and binds the file to it with
  ``LOOP_CONFIGURE`` and autoclear, as ``mount -o loop`` does: the device frees itself when its last user
  (the mount) goes away. A device another thread or process bound in between is skipped (EBUSY).
* ``loop_devices`` finds the devices bound to a file through ``/sys/block/loop*/loop/backing_file``
  (``losetup -j``); ``detach_loop`` is ``losetup -d``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ContainerError

MS_NOSUID, MS_NODEV, MS_RDONLY = 0x2, 0x4, 0x1
MNT_DETACH = 0x2
LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LOOP_CLR_FD = 0x4C01
LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR = 1, 4

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def _error(what: str) -> ContainerError:
    code = ctypes.get_errno()
    return ContainerError(f"{what}: {os.strerror(code)}")


def mount(source: str, target: str | Path, fstype: str, flags: int = 0, data: str = "") -> None:
    if _libc.mount(source.encode(), os.fsencode(target), fstype.encode(), flags, data.encode() or None) != 0:
        raise _error(f"mount {source} on {target} ({fstype})")


def umount(target: str | Path, *, lazy: bool = False) -> None:
    if _libc.umount2(os.fsencode(target), MNT_DETACH if lazy else 0) != 0:
        raise _error(f"umount {target}")


def _loop_config(fd: int, path: Path, read_only: bool) -> bytes:
    """struct loop_config: fd, block_size, struct loop_info64 (flags, file name), reserved."""
    flags = LO_FLAGS_AUTOCLEAR | (LO_FLAGS_READ_ONLY if read_only else 0)
    info = struct.pack("=5Q4I64s64s32s2Q", 0, 0, 0, 0, 0, 0, 0, 0, flags, os.fsencode(path)[:63], b"", b"", 0, 0)
    return struct.pack("=II", fd, 0) + info + bytes(64)


@contextmanager
def attach_loop(path: str | Path, *, read_only: bool = False, attempts: int = 20) -> Iterator[str]:
    """A loop device bound to ``path`` (autoclear) while the block runs: mount it inside; once the
    block closes the device, the mount is its only user (no mount: the device is freed at once)."""
    path = Path(path)
    backing = os.open(path, os.O_RDONLY if read_only else os.O_RDWR)
    try:
        ctl = os.open("/dev/loop-control", os.O_RDWR)
        try:
            for _ in range(attempts):
                number = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
                dev = f"/dev/loop{number}"
                try:
                    fd = os.open(dev, os.O_RDWR)
                except FileNotFoundError:  # the node is made by devtmpfs an instant after the device
                    continue
                try:
                    fcntl.ioctl(fd, LOOP_CONFIGURE, _loop_config(backing, path, read_only))
                except OSError as exc:
                    os.close(fd)
                    if exc.errno == errno.EBUSY:  # taken by another thread or process in between
                        continue
                    raise ContainerError(f"loop device for {path}: {exc.strerror}") from None
                break
            else:
                raise ContainerError(f"no free loop device for {path} after {attempts} attempts")
        finally:
            os.close(ctl)
    finally:
        os.close(backing)
    try:
        yield dev
    finally:
        os.close(fd)


def mount_loop(image: str | Path, target: str | Path, fstype: str, flags: int = 0, data: str = "") -> None:
    """``mount -o loop``: the file's filesystem on ``target`` through an autoclear loop device."""
    with attach_loop(image, read_only=bool(flags & MS_RDONLY)) as dev:
        mount(dev, target, fstype, flags, data)


def loop_devices(path: str | Path) -> list[str]:
    """The loop devices bound to ``path`` (``losetup -j``)."""
    target = os.path.realpath(path)
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            name = backing.read_text().rstrip("\n")
            if name.removesuffix(" (deleted)") == target:
                found.append(f"/dev/{backing.parent.parent.name}")
    return sorted(found)


def detach_loop(dev: str) -> None:
    """``losetup -d``: unbind now when unused, else (autoclear) when its last user goes."""
    with contextlib.suppress(OSError):
        fd = os.open(dev, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, LOOP_CLR_FD)
        finally:
            os.close(fd)
