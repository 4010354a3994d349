"""QEMU processes without an init system: started daemonized (so they outlive the agent), found again
by pidfile and checked against ``/proc/<pid>/cmdline`` (pids are reused), stopped by QMP or signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from .cmdline import VmSpec, argv
from .errors import QemuError
from .qmp import QmpClient


def pid_of(spec: VmSpec) -> int | None:
    """The pid of the guest's QEMU if it runs (zombies and reused pids do not count)."""
    try:
        pid = int(Path(spec.pidfile).read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return None
    return pid if spec.uuid.encode() in cmdline and spec.qmp.encode() in b" ".join(cmdline) else None


def start(spec: VmSpec, binary: str, log: Path) -> int:
    """Start the guest's QEMU; returns its pid once QEMU runs and listens on QMP."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spec.qmp)
    with open(log, "ab") as err:
        r = subprocess.run(argv(spec, binary), stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.PIPE,
                           timeout=120, start_new_session=True)
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise QemuError(f"qemu failed to start: {msg[-1] if msg else f'exit status {r.returncode}'}")
    pid = pid_of(spec)
    if pid is None:
        raise QemuError("qemu exited right after starting")
    return pid


def wait_gone(spec: VmSpec, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_of(spec) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


POWERDOWN_RETRY = 5.0  # seconds between presses of the power button (Nova's libvirt driver retries too)


def stop(spec: VmSpec, timeout: float = 0.0) -> None:
    """ACPI power button for up to ``timeout`` seconds, then QMP quit, then SIGKILL.  The button is pressed
    again every ``POWERDOWN_RETRY`` seconds: a guest still booting (no ACPI yet) misses the first press."""
    if pid_of(spec) is None:
        return
    deadline = time.monotonic() + timeout
    while timeout > 0:
        pressed = False
        with contextlib.suppress(QemuError), QmpClient(spec.qmp, timeout=5) as q:
            if q.execute("query-status")["status"] == "running":
                q.execute("system_powerdown")
                pressed = True
        if not pressed:  # paused vCPUs (or no QMP): nothing in the guest can shut it down cleanly
            break
        left = deadline - time.monotonic()
        if wait_gone(spec, max(0.0, min(left, POWERDOWN_RETRY))):
            return
        if left <= POWERDOWN_RETRY:
            break
    with contextlib.suppress(QemuError), QmpClient(spec.qmp, timeout=5) as q:
        q.execute("quit")
    if wait_gone(spec, 5):
        return
    pid = pid_of(spec)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if not wait_gone(spec, 10):
        raise QemuError(f"qemu of guest {spec.uuid} does not exit")
