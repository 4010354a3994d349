"""Cgroup limits for guests, nested under this process's own cgroup.

LXC creates the cgroups (``lxc.cgroup.relative = 1`` puts them below the cgroup of the process that
runs ``lxc-start``, i.e. ours, and ``lxc.cgroup.dir.*`` names them after the guest). This module turns a
flavor into LXC config lines for whichever hierarchy carries the controllers (cgroup v1 here: the
cgroup2 mount only has ``hugetlb``), applies new limits to a running guest (resize), reads usage and
freezer state, and removes whatever a crashed run left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("cpu", "memory", "pids", "freezer")
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    vcpus: int = 1
    memory_mb: int = 512
    pids_max: int = 1024


@dataclass(frozen=True)
class Hierarchy:
    """Where each controller lives: v1 mount + our own path in it, or the unified (v2) mount."""

    v1: dict[str, Path]  # controller -> this process's cgroup directory in that controller's mount
    v2: Path | None  # this process's cgroup directory in the unified mount, when controllers are there
    v2_controllers: frozenset[str]

    @property
    def uses_v1(self) -> bool:
        return "memory" in self.v1


@functools.lru_cache(maxsize=1)
def _mounts() -> tuple[dict[str, Path], Path | None]:
    """Where the cgroup hierarchies are mounted: fixed for the life of the host, read once (the mount
    table grows with every guest's mounts and was parsed several times per boot)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fields, post_fields = pre.split(), post.split()
        mount_point, fstype, opts = Path(fields[4]), post_fields[0], post_fields[2].split(",")
        if fstype == "cgroup":
            for c in opts:
                if c in CONTROLLERS or c == "cpuacct":
                    v1.setdefault(c, mount_point)
        elif fstype == "cgroup2":
            v2 = v2 or mount_point
    return v1, v2


# /proc/<pid>/cgroup text -> its Hierarchy: read at every guest start, stop and state check, parsed once per
# distinct content (this process's rarely changes; each guest's is its own)
_parsed: dict[str, Hierarchy] = {}


def hierarchy(pid: int | str = "self") -> Hierarchy:
    """The cgroup directories of ``pid`` (default: this process) for every controller we use."""
    with open(f"/proc/{pid}/cgroup") as f:
        text = f.read()
    h = _parsed.get(text)
    if h is None:
        if len(_parsed) >= 256:
            _parsed.clear()
        h = _parsed[text] = _parse(text)
    return h


def _parse(text: str) -> Hierarchy:
    v1_mounts, v2_mount = _mounts()
    own_v1: dict[str, Path] = {}
    own_v2: Path | None = None
    for line in text.splitlines():
        _, names, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if names == "" and v2_mount is not None:
            own_v2 = v2_mount / rel
        for c in names.split(","):
            if c in v1_mounts:
                own_v1[c] = v1_mounts[c] / rel
    v2_ctl: frozenset[str] = frozenset()
    if own_v2 is not None:
        with contextlib.suppress(OSError):
            v2_ctl = frozenset((own_v2 / "cgroup.controllers").read_text().split())
    return Hierarchy(own_v1, own_v2, v2_ctl)


def lxc_config(limits: Limits, h: Hierarchy) -> list[str]:
    """LXC config lines setting the flavor's limits (vCPUs -> CFS quota and shares, RAM, pids)."""
    mem = limits.memory_mb << 20
    quota = limits.vcpus * CPU_PERIOD_US
    if h.uses_v1:
        lines = [
            f"lxc.cgroup.memory.limit_in_bytes = {mem}",
            f"lxc.cgroup.cpu.cfs_period_us = {CPU_PERIOD_US}",
            f"lxc.cgroup.cpu.cfs_quota_us = {quota}",
            f"lxc.cgroup.cpu.shares = {1024 * limits.vcpus}",
            f"lxc.cgroup.pids.max = {limits.pids_max}",
        ]
        if (h.v1["memory"] / "memory.memsw.limit_in_bytes").exists():
            lines.append(f"lxc.cgroup.memory.memsw.limit_in_bytes = {mem}")
        return lines
    return [
        f"lxc.cgroup2.memory.max = {mem}",
        "lxc.cgroup2.memory.swap.max = 0",
        f"lxc.cgroup2.cpu.max = {quota} {CPU_PERIOD_US}",
        f"lxc.cgroup2.cpu.weight = {min(10000, 100 * limits.vcpus)}",
        f"lxc.cgroup2.pids.max = {limits.pids_max}",
    ]


def guest_dirs(name: str, h: Hierarchy | None = None) -> list[Path]:
    """Every cgroup directory LXC may create for guest ``name`` (payload and monitor), existing or not."""
    h = h or hierarchy()
    bases = set(h.v1.values()) | ({h.v2} if h.v2 else set())
    return sorted({b / n for b in bases for n in (name, f"{name}.monitor")})


def find_prefixed(prefix: str, h: Hierarchy | None = None) -> list[Path]:
    """Existing cgroup directories directly under ours whose name starts with ``prefix``."""
    h = h or hierarchy()
    bases = set(h.v1.values()) | ({h.v2} if h.v2 else set())
    found = []
    for b in bases:
        with contextlib.suppress(OSError):
            found += [p for p in b.iterdir() if p.is_dir() and p.name.startswith(prefix)]
    return sorted(found)


def guest_dir(pid: int, controller: str) -> Path | None:
    """The cgroup directory of a running guest's init for ``controller`` (read from /proc)."""
    try:
        h = hierarchy(pid)
    except OSError:
        return None
    if controller in h.v1:
        return h.v1[controller]
    return h.v2


def apply_limits(pid: int, limits: Limits) -> None:
    """Change a running guest's limits in place (resize)."""
    h = hierarchy(pid)
    mem = limits.memory_mb << 20
    if h.uses_v1:
        memsw = h.v1["memory"] / "memory.memsw.limit_in_bytes"
        current = int((h.v1["memory"] / "memory.limit_in_bytes").read_text())
        # memsw must stay >= limit: raise memsw first when growing, lower it last when shrinking
        order = ["memsw", "mem"] if mem > current else ["mem", "memsw"]
        for item in order:
            if item == "mem":
                (h.v1["memory"] / "memory.limit_in_bytes").write_text(str(mem))
            elif memsw.exists():
                memsw.write_text(str(mem))
        (h.v1["cpu"] / "cpu.cfs_quota_us").write_text(str(limits.vcpus * CPU_PERIOD_US))
        (h.v1["cpu"] / "cpu.shares").write_text(str(1024 * limits.vcpus))
        (h.v1["pids"] / "pids.max").write_text(str(limits.pids_max))
    else:
        assert h.v2 is not None
        (h.v2 / "memory.max").write_text(str(mem))
        (h.v2 / "cpu.max").write_text(f"{limits.vcpus * CPU_PERIOD_US} {CPU_PERIOD_US}")
        (h.v2 / "pids.max").write_text(str(limits.pids_max))


def memory_usage(pid: int) -> int | None:
    d = guest_dir(pid, "memory")
    for f in ("memory.usage_in_bytes", "memory.current"):
        with contextlib.suppress(OSError, ValueError, TypeError):
            return int((d / f).read_text())  # type: ignore[operator]
    return None


def freezer_state(pid: int) -> str | None:
    """THAWED / FREEZING / FROZEN (v1 freezer), or None when unknown."""
    d = guest_dir(pid, "freezer")
    if d is None:
        return None
    with contextlib.suppress(OSError):
        return (d / "freezer.state").read_text().strip()
    with contextlib.suppress(OSError):
        return "FROZEN" if (d / "cgroup.freeze").read_text().strip() == "1" else "THAWED"
    return None


def remove(dirs: list[Path], timeout: float = 5.0) -> list[Path]:
    """Kill whatever is still in these cgroups, then remove them (children first).
    Returns the directories that could not be removed."""
    left: list[Path] = []
    dirs = [d for d in dirs if os.path.exists(d)]  # (usually none: checked before every start)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        if not d.exists():
            continue
        subdirs = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        deadline = time.monotonic() + timeout
        for sub in [*subdirs, d]:
            while sub.exists():
                _thaw(sub)
                for pid in _procs(sub):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    sub.rmdir()
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        left.append(sub)
                        break
                    time.sleep(0.01)
    return left


def _procs(d: Path) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        return [int(x) for x in (d / "cgroup.procs").read_text().split()]
    return []


def _thaw(d: Path) -> None:
    state = d / "freezer.state"
    if state.exists():
        with contextlib.suppress(OSError):
            state.write_text("THAWED")
