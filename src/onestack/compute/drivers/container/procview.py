"""What a guest sees of its host in /proc: the flavor's vCPUs in ``/proc/cpuinfo``.

A container shares the host's kernel, whose /proc/cpuinfo lists every host CPU, while its CPU time is
bounded by a CFS quota of ``vcpus`` CPUs (``cgroups``). The runtime bind-mounts a file listing
``vcpus`` processors over the guest's /proc/cpuinfo — what lxcfs does for cpusets, without a FUSE
daemon — so what counts processors in the guest (Tempest's vCPU check, scripts sizing worker pools)
sees the flavor, as in a VM. The entries are the host's CPUs renumbered, repeated when the flavor
has more vCPUs than the host (an overcommitted VM).
"""

from __future__ import annotations

from pathlib import Path

HOST_CPUINFO = Path("/proc/cpuinfo")


def cpuinfo(vcpus: int, host: str | None = None) -> str:
    """/proc/cpuinfo of a guest with ``vcpus`` processors (one socket, one thread per core)."""
    text = HOST_CPUINFO.read_text() if host is None else host
    blocks = [b for b in text.split("\n\n") if b.strip()]
    if not blocks:
        return text
    renumbered = {"processor": "{i}", "physical id": "0", "core id": "{i}", "apicid": "{i}", "initial apicid": "{i}",
                  "siblings": "{n}", "cpu cores": "{n}"}
    out = []
    for i in range(max(1, vcpus)):
        lines = []
        for line in blocks[i % len(blocks)].splitlines():
            key = line.split(":", 1)[0].strip()
            if key in renumbered and ":" in line:
                line = f"{line.split(':', 1)[0]}: {renumbered[key].format(i=i, n=vcpus)}"
            lines.append(line)
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n\n"
