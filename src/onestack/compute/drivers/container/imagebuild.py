"""``onestack image build busybox``: a small test image made from Debian's busybox-static, offline.

The result is a root filesystem tarball (``disk_format=raw``, ``container_format=compressed``, see
``rootfs``) of about 1 MB: busybox with its applets linked in /bin, /etc basics, and the onestack
guest init as /sbin/init (hostname, SSH key, user_data and network configuration from the config
drive; see ``guestinit``). When the host has Debian's ``dropbear-bin``, its SSH server and the shared
libraries it loads are added (about 2 MB more), as CirrOS ships dropbear: the init starts it, so the
key pair of the server logs in as root (Tempest's SSH validation). Deterministic: the same busybox
(and dropbear) gives byte-identical tarballs.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ContainerError
from .guestinit import INIT_SCRIPT

MTIME = 1_700_000_000
DIRS = ("bin", "sbin", "etc", "etc/dropbear", "dev", "proc", "sys", "tmp", "run", "root", "mnt", "mnt/config", "var",
        "var/www", "usr", "usr/bin", "usr/sbin", "home")
SSHD = "/usr/sbin/dropbear"
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/shadow": "root:*:19000:0:99999:7:::\n",
    "etc/hostname": "busybox\n",
    "etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
    "etc/os-release": 'NAME="onestack busybox"\nID=busybox\nPRETTY_NAME="onestack busybox test image"\n',
    "etc/profile": "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    "var/www/index.html": "hello from onestack busybox\n",
}


# busybox has no lsblk: the block devices the guest has (the volumes attached to it, /dev/vdb...) the way
# `lsblk -lb --nodeps` lists them (sizes in bytes), for what counts a guest's disks (Tempest's volume checks)
LSBLK = r"""#!/bin/sh
printf '%-8s %7s %2s %14s %2s %4s\n' NAME MAJ:MIN RM SIZE RO TYPE
for dev in /dev/*; do
  [ -b "$dev" ] || continue
  mm="$(printf %d 0x$(stat -c %t "$dev")):$(printf %d 0x$(stat -c %T "$dev"))"
  size=$(( $(cat /sys/dev/block/$mm/size 2>/dev/null || echo 0) * 512 ))
  ro=$(cat /sys/dev/block/$mm/ro 2>/dev/null || echo 0)
  printf '%-8s %7s %2s %14s %2s %4s\n' "${dev#/dev/}" "$mm" 0 "$size" "$ro" disk
done
"""
SCRIPTS = {"usr/bin/lsblk": LSBLK}


@dataclass(frozen=True)
class BuiltImage:
    path: Path
    name: str
    disk_format: str = "raw"
    container_format: str = "compressed"
    properties: tuple[tuple[str, str], ...] = (("os_distro", "busybox"), ("hw_guest", "container"))


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, size: int = 0,
          link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def sshd_files(binary: str = SSHD) -> dict[str, Path]:
    """The SSH server and the shared libraries ``ldd`` says it loads, by their path in the image
    (the host's own paths: the loader finds them where it was built to look); {} without one."""
    if not os.access(binary, os.X_OK):
        return {}
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:
        return {}
    files = {binary.lstrip("/"): Path(binary)}
    for line in r.stdout.splitlines():
        # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            files[path.lstrip("/")] = Path(os.path.realpath(path))
    return files


def build_busybox(dest: Path, busybox: str | None = None, extra: dict[str, Path] | None = None) -> BuiltImage:
    """Write ``dest`` (a .tar.gz) and return its description. ``extra``: more files by their path in the
    image (default: ``sshd_files()``)."""
    busybox = busybox or shutil.which("busybox") or "/bin/busybox"
    r = subprocess.run([busybox, "--list-full"], capture_output=True, text=True)
    if r.returncode != 0:
        raise ContainerError("busybox is needed (apt-get install busybox-static)")
    applets = sorted({line.strip() for line in r.stdout.splitlines() if line.strip()})
    blob = Path(busybox).read_bytes()
    extra = sshd_files() if extra is None else extra
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=MTIME) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info(".", tarfile.DIRTYPE, 0o755))
        for d in DIRS:
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else (0o700 if d == "root" else 0o755)))
        tar.addfile(_info("bin/busybox", mode=0o755, size=len(blob)), io.BytesIO(blob))
        seen = {"bin/busybox", "sbin/init", *SCRIPTS}
        for applet in applets:  # e.g. "usr/bin/wget", "sbin/ip", "bin/sh"
            if applet in seen or "/" not in applet:
                continue
            seen.add(applet)
            target = "/bin/busybox"
            tar.addfile(_info(applet, tarfile.SYMTYPE, 0o777, link=target))
        dirs = {d for name in extra for d in _parents(name)} - set(DIRS)
        for d in sorted(dirs):
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o755))
        for name, source in sorted(extra.items()):
            data = source.read_bytes()
            tar.addfile(_info(name, mode=0o755, size=len(data)), io.BytesIO(data))
        init = INIT_SCRIPT.encode()
        tar.addfile(_info("sbin/init", mode=0o755, size=len(init)), io.BytesIO(init))
        for name, text in SCRIPTS.items():
            data = text.encode()
            tar.addfile(_info(name, mode=0o755, size=len(data)), io.BytesIO(data))
        for name, text in FILES.items():
            data = text.encode()
            mode = 0o640 if name == "etc/shadow" else 0o644
            tar.addfile(_info(name, mode=mode, size=len(data)), io.BytesIO(data))
    tmp.replace(dest)
    return BuiltImage(dest, "busybox")


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
