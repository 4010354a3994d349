"""Which accelerator QEMU guests get on this host: KVM only when a real guest boots faster under it.

An ioctl check is not enough: ``/dev/kvm`` may be a device (nested PVM, for one) that creates VMs and
vCPUs but runs stock kernels ten times slower than TCG and then fails.  So the probe boots the same
small guest — a kernel and a busybox initramfs whose init prints a marker and powers off — under KVM
and under TCG at once, and picks KVM only if its guest prints the marker first.  The outcome is kept
in a JSON file keyed by the host kernel and the QEMU binary (probed once per host), logged, and
overridden by ``[compute] qemu_accel`` (``tcg`` or ``kvm``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .vmimage import _cpio

log = logging.getLogger(__name__)

MARKER = "ONESTACK-ACCEL-PROBE-OK"
PROBE_INIT = (f"#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs dev /dev\n"
              f"/bin/busybox echo {MARKER} > /dev/ttyS0\n/bin/busybox poweroff -f\n")


@dataclass(frozen=True)
class Choice:
    accel: str
    why: str


def _host_key(binary: str) -> str:
    path = shutil.which(binary) or binary
    try:
        st = os.stat(path)
    except OSError:
        return f"{os.uname().release}:missing"
    return f"{os.uname().release}:{path}:{st.st_size}:{st.st_mtime_ns}"


def kvm_usable_device() -> str | None:
    """Why KVM is out of the question without booting anything, or None."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as exc:
        return f"/dev/kvm cannot be opened ({exc.strerror})"
    os.close(fd)
    return None


def _printed(log_file: Path) -> bool:
    try:
        return MARKER in log_file.read_text(errors="replace")
    except FileNotFoundError:
        return False


def _probe_boot(binary: str, kernel: str, busybox: str, timeout: float) -> tuple[bool, str]:
    """Boot the probe guest under KVM and TCG at once; (kvm_won, detail)."""
    work = Path(tempfile.mkdtemp(prefix="onestack-accel-"))
    procs: dict[str, subprocess.Popen] = {}
    try:
        initrd = work / "probe.cpio.gz"
        initrd.write_bytes(gzip.compress(_cpio([("bin", 0o040755, b""), ("dev", 0o040755, b""),
                                                ("bin/busybox", 0o100755, Path(busybox).read_bytes()),
                                                ("init", 0o100755, PROBE_INIT.encode())]), compresslevel=1))
        for accel in ("kvm", "tcg"):
            cpu = ["-cpu", "host"] if accel == "kvm" else []
            procs[accel] = subprocess.Popen(
                [binary, "-accel", accel, *cpu, "-m", "128", "-nodefaults", "-no-user-config", "-display", "none",
                 "-no-reboot", "-kernel", kernel, "-initrd", str(initrd), "-append", "console=ttyS0 quiet panic=-1",
                 "-serial", f"file:{work / accel}.log"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            done = {a for a in procs if _printed(work / f"{a}.log")}
            if "kvm" in done:
                return True, f"KVM booted the probe guest in {time.monotonic() - t0:.1f} s, before TCG"
            if "tcg" in done:
                return False, (f"TCG booted the probe guest in {time.monotonic() - t0:.1f} s and KVM had not "
                               f"(exit status {procs['kvm'].poll()})")
            if all(p.poll() is not None for p in procs.values()):
                break
            time.sleep(0.1)
        return False, f"no probe boot finished within {timeout:.0f} s"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


def choose(configured: str, cache_file: Path, binary: str, kernel: str | None, timeout: float = 180.0) -> Choice:
    """The accelerator for new guests (see the module docstring)."""
    if configured in ("tcg", "kvm"):
        return Choice(configured, "configured ([compute] qemu_accel)")
    key = _host_key(binary)
    with contextlib.suppress(OSError, ValueError, KeyError):
        cached = json.loads(cache_file.read_text())
        if cached["key"] == key:
            return Choice(cached["accel"], cached["why"] + " (probed before)")
    reason = kvm_usable_device()
    busybox = shutil.which("busybox") or "/bin/busybox"
    if reason is None and not kernel:
        return Choice("tcg", "no kernel to boot a KVM probe with yet")  # not cached: probe with the first one
    if reason is None and not os.path.exists(busybox):
        reason = "busybox-static is missing for the probe guest"
    if reason is None:
        kvm, reason = _probe_boot(binary, kernel or "", busybox, timeout)
        choice = Choice("kvm" if kvm else "tcg", reason)
    else:
        choice = Choice("tcg", reason)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps({"key": key, "accel": choice.accel, "why": choice.why}))
    log.info("QEMU accelerator: %s (%s)", choice.accel, choice.why)
    return choice
