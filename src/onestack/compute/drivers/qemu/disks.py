"""Guest disks with qemu-img (always with explicit formats: qemu-img never probes untrusted data):
the qcow2 overlay over the cached base image, snapshots, and the config drive ISO."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .errors import QemuError


def _run(cmd: list[str], timeout: float = 600) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise QemuError(f"{cmd[0]} {cmd[1]} failed: {r.stderr.strip()[-300:]}")
    return r.stdout


def virtual_size(path: Path, fmt: str) -> int:
    return int(json.loads(_run(["qemu-img", "info", "-U", "--output=json", "-f", fmt, str(path)]))["virtual-size"])


def create_overlay(base: Path, dest: Path, size: int) -> None:
    """A qcow2 of ``size`` bytes backed by the raw ``base`` (which it never writes)."""
    base_size = virtual_size(base, "raw")
    if size and size < base_size:
        raise QemuError(f"the flavor's root disk ({size >> 30} GiB) is smaller than the image ({base_size} bytes)")
    _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(dest),
          str(max(size, base_size))])


def grow(path: Path, size: int) -> None:
    """Grow (never shrink) the overlay to ``size`` bytes; the guest sees it at its next boot."""
    if size > virtual_size(path, "qcow2"):
        _run(["qemu-img", "resize", "-q", "-f", "qcow2", str(path), str(size)])


def convert(src: Path, dest: Path, fmt: str = "raw", src_fmt: str = "qcow2") -> None:
    """A standalone copy of the guest's disk (backing chain flattened); ``-U``: QEMU may hold the lock
    of a paused guest whose writes it has flushed."""
    _run(["qemu-img", "convert", "-U", "-q", "-f", src_fmt, "-O", fmt, str(src), str(dest)], timeout=3600)


def make_iso(tree: Path, dest: Path) -> None:
    """ISO 9660 with Rock Ridge names, volume label ``config-2`` (what cloud-init looks for)."""
    _run(["genisoimage", "-quiet", "-o", str(dest), "-V", "config-2", "-r", "-l", "-ldots", "-allow-lowercase",
          "-allow-multidot", str(tree)])
