"""``onestack image build busybox``: a small test image made from Debian's busybox-static, offline.

The result is a root filesystem tarball (``disk_format=raw``, ``container_format=compressed``, see
``rootfs``) of about 1 MB: busybox with its applets linked in /bin, /etc basics, and the onestack
guest init as /sbin/init (hostname, SSH key, user_data and network configuration from the config
drive; see ``guestinit``). Deterministic: the same busybox gives byte-identical tarballs.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ContainerError
from .guestinit import INIT_SCRIPT

MTIME = 1_700_000_000
DIRS = ("bin", "sbin", "etc", "dev", "proc", "sys", "tmp", "run", "root", "mnt", "mnt/config", "var", "var/www",
        "usr", "usr/bin", "usr/sbin", "home")
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


def build_busybox(dest: Path, busybox: str | None = None) -> BuiltImage:
    """Write ``dest`` (a .tar.gz) and return its description."""
    busybox = busybox or shutil.which("busybox") or "/bin/busybox"
    r = subprocess.run([busybox, "--list-full"], capture_output=True, text=True)
    if r.returncode != 0:
        raise ContainerError("busybox is needed (apt-get install busybox-static)")
    applets = sorted({line.strip() for line in r.stdout.splitlines() if line.strip()})
    blob = Path(busybox).read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=MTIME) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info(".", tarfile.DIRTYPE, 0o755))
        for d in DIRS:
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else (0o700 if d == "root" else 0o755)))
        tar.addfile(_info("bin/busybox", mode=0o755, size=len(blob)), io.BytesIO(blob))
        seen = {"bin/busybox", "sbin/init"}
        for applet in applets:  # e.g. "usr/bin/wget", "sbin/ip", "bin/sh"
            if applet in seen or "/" not in applet:
                continue
            seen.add(applet)
            target = "/bin/busybox"
            tar.addfile(_info(applet, tarfile.SYMTYPE, 0o777, link=target))
        init = INIT_SCRIPT.encode()
        tar.addfile(_info("sbin/init", mode=0o755, size=len(init)), io.BytesIO(init))
        for name, text in FILES.items():
            data = text.encode()
            mode = 0o640 if name == "etc/shadow" else 0o644
            tar.addfile(_info(name, mode=mode, size=len(data)), io.BytesIO(data))
    tmp.replace(dest)
    return BuiltImage(dest, "busybox")
