"""``onestack image build debian``: a Debian root filesystem tarball made with debootstrap.

``debootstrap --variant=minbase`` of the host's suite (``host_suite``) from the host's own apt mirror
(``host_mirror`` reads /etc/apt/sources.list and sources.list.d/*.list and *.sources, deb822; the CLI's
``--mirror`` overrides it), plus the few packages a cloud guest needs: ``iproute2``, ``iputils-ping``
and ``dropbear-bin`` (an SSH server of a few hundred kB, where openssh-server brings ~10 MB; no
ca-certificates: apt uses the http mirror). About 130 MB unpacked, 60 MB as a tar.gz.

No ``/sbin/init`` and no DHCP client: the container driver boots a rootfs without /sbin/init with its
built-in guest init from the runtime layer (``guestinit``: hostname, root's SSH key, DHCP with the
layer's udhcpc, user_data scripts, console markers), the same script the busybox image ships as its
/sbin/init. That init runs ``/etc/rc.local`` once the network is configured; ours starts dropbear,
which creates the guest's own host keys at the first connection (the image has none).

``pack_rootfs`` turns the debootstrap tree into the tarball (the image is the same kind as busybox's:
``disk_format=raw``, ``container_format=compressed``): apt's package cache and lists, logs, the build
host's resolv.conf and hostname and the contents of /dev, /proc, /sys, /run and /tmp are left out;
device nodes, FIFOs and sockets are never archived (the driver's extractor would skip them anyway).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import stat
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import mounts
from .errors import ContainerError
from .overlay import mounts_below

PACKAGES = ("iproute2", "iputils-ping", "dropbear-bin")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOSTNAME = "debian"
RC_LOCAL = """#!/bin/sh
# onestack debian image: run by the guest init (onestack guestinit) once the network is configured.
# SSH for the server's key_name: dropbear creates this guest's own host keys at the first connection.
mkdir -p /etc/dropbear
exec dropbear -F -E -R -s -p 22
"""
# paths (relative to the rootfs) whose contents are build leftovers, not part of the image
EMPTIED = ("dev", "proc", "sys", "run", "tmp", "var/tmp", "var/cache/apt", "var/lib/apt/lists", "var/log",
           "debootstrap", "etc/dropbear")
REMOVED = ("etc/resolv.conf", "etc/machine-id", "var/cache/ldconfig/aux-cache")
PACK_VERSION = "1"  # part of the build cache key: bump when RC_LOCAL or pack_rootfs change the result
URI_SCHEMES = ("http://", "https://", "file:/")


class DebianImageError(ContainerError):
    """The Debian image cannot be built here; the message says what to do."""


# --------------------------------------------------------------------------- the host's apt sources


@dataclass(frozen=True)
class AptSource:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...] = ()
    enabled: bool = True


def parse_deb822(text: str) -> list[AptSource]:
    """The stanzas of a ``.sources`` file (deb822: ``Key: value`` fields, continuation lines indented,
    stanzas separated by blank lines, ``#`` comment lines)."""
    sources, fields, key = [], {}, None

    def flush() -> None:
        if fields.get("types") and fields.get("uris") and fields.get("suites"):
            sources.append(AptSource(
                tuple(fields["types"].split()), tuple(fields["uris"].split()), tuple(fields["suites"].split()),
                tuple(fields.get("components", "").split()), fields.get("enabled", "yes").strip().lower() != "no"))
        fields.clear()

    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            flush()
            key = None
        elif line[0] in " \t":
            if key is not None and line.strip() != ".":
                fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    flush()
    return sources


def parse_legacy(text: str) -> list[AptSource]:
    """The lines of a one-line-style ``sources.list``: ``deb [options] URI suite [component...]``."""
    sources = []
    for line in text.splitlines():
        line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] in ("deb", "deb-src"):
            sources.append(AptSource((line[0],), (line[1],), (line[2],), tuple(line[3:])))
    return sources


def host_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """The host's apt sources in apt's order: sources.list, then sources.list.d/ by name."""
    found = []
    if (apt_dir / "sources.list").is_file():
        found += parse_legacy((apt_dir / "sources.list").read_text(errors="replace"))
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.iterdir()) if parts.is_dir() else ():
        if path.name.endswith(".list"):
            found += parse_legacy(path.read_text(errors="replace"))
        elif path.name.endswith(".sources"):
            found += parse_deb822(path.read_text(errors="replace"))
    return found


def host_mirror(suite: str, apt_dir: Path = Path("/etc/apt")) -> str | None:
    """The first enabled binary (``deb``) source of ``suite`` that debootstrap can fetch from (http,
    https or file; not ``mirror+``, ``cdrom:`` or ``tor+`` URIs)."""
    for source in host_sources(apt_dir):
        if source.enabled and "deb" in source.types and suite in source.suites:
            for uri in source.uris:
                if uri.startswith(URI_SCHEMES):
                    return uri.rstrip("/")
    return None


def host_suite(os_release: Path = Path("/etc/os-release")) -> str | None:
    """The host's Debian codename (``VERSION_CODENAME``), e.g. bookworm."""
    return _os_release(os_release).get("VERSION_CODENAME") or None


def _os_release(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            values[k.strip()] = v.strip().strip("\"'")
    return values


def check_mirror(mirror: str, suite: str, timeout: float = 15.0) -> None:
    """Refuse early, with what to do, when ``mirror`` does not serve ``suite`` (debootstrap itself
    would fail minutes later or hang)."""
    if not mirror.startswith(URI_SCHEMES):
        raise DebianImageError(f"the mirror {mirror!r} is not an http://, https:// or file:/ URL: pass --mirror "
                               f"URL of a Debian mirror (e.g. {DEFAULT_MIRROR})")
    url = f"{mirror.rstrip('/')}/dists/{suite}/Release"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read(1)
    except urllib.error.HTTPError as exc:
        raise DebianImageError(f"the mirror {mirror} has no suite {suite!r} ({url}: HTTP {exc.code}): pass "
                               "--suite NAME of a suite it has, or --mirror URL of another Debian mirror") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DebianImageError(f"the mirror {mirror} cannot be reached ({url}: {reason}): this build needs the "
                               "network or a local mirror; check the connection (and http_proxy), or pass "
                               "--mirror URL of a reachable Debian mirror (file:/path works too)") from None


# --------------------------------------------------------------------------- debootstrap


def debootstrap_command(target: Path, suite: str, mirror: str, cache_dir: Path | None = None,
                        packages: Iterable[str] = PACKAGES) -> list[str]:
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}"]
    if cache_dir is not None:  # keeps the .debs: a rebuild after a change here downloads nothing
        cmd.append(f"--cache-dir={Path(cache_dir).resolve()}")
    return [*cmd, suite, str(target), mirror]


# debootstrap prints one line per package and stage ("I: Retrieving libc6 2.36-9+deb12u10", "I: Extracting
# sed..."): only the first line of each stage is worth showing
_PER_PACKAGE = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) (\S+ \S+|\S+\.\.\.)$")


def progress_lines(lines: Iterable[str]) -> Iterable[str]:
    """debootstrap's output without its per-package lines (each stage is named once)."""
    stage = shown = None
    for line in lines:
        line = line.rstrip()
        m = _PER_PACKAGE.match(line)
        if m and m.group(2) != "packages...":
            if m.group(1) != stage:
                stage, line = m.group(1), f"I: {m.group(1)} packages..."
                if line != shown:
                    shown = line
                    yield line
            continue
        stage = None
        if line:
            shown = line
            yield line


def debootstrap(target: Path, suite: str, mirror: str, cache_dir: Path | None = None,
                progress: Callable[[str], None] = lambda _: None) -> None:
    """Run debootstrap into ``target`` (must not exist or be empty), relaying its stages to ``progress``."""
    if shutil.which("debootstrap") is None:
        raise DebianImageError("debootstrap is not installed: apt-get install debootstrap (make install does)")
    if os.geteuid() != 0:
        raise DebianImageError("debootstrap needs root (it creates device nodes and runs dpkg in a chroot)")
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    cmd = debootstrap_command(target, suite, mirror, cache_dir)
    tail: list[str] = []
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    try:
        for line in progress_lines(_keep_tail(proc.stdout, tail)):
            progress(line)
        rc = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: debootstrap's exit trap unmounts what it mounted
            proc.terminate()
            proc.wait()
    if rc != 0:
        log = Path(target) / "debootstrap" / "debootstrap.log"
        detail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else tail[-15:]
        raise DebianImageError(f"debootstrap failed (exit {rc}): {' '.join(cmd)}\n" + "\n".join(detail))


def _keep_tail(lines: Iterable[str], tail: list[str], n: int = 30) -> Iterable[str]:
    for line in lines:
        tail.append(line.rstrip())
        del tail[:-n]
        yield line


def unmount_below(path: Path) -> None:
    """Mounts a killed debootstrap left in its target (/proc, /sys): never archived nor deleted through."""
    for mp in mounts_below(path):
        mounts.umount(mp, lazy=True)


# --------------------------------------------------------------------------- the tarball


def prepare_rootfs(root: Path, mirror: str, suite: str) -> None:
    """Make a debootstrap tree an image, in place: build leftovers out, the guest's files in."""
    unmount_below(root)
    for rel in EMPTIED:
        d = root / rel
        if d.is_dir() and not d.is_symlink():
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    for rel in REMOVED:
        p = root / rel
        if p.is_symlink() or p.exists():
            p.unlink()
    if (root / "debootstrap").is_dir():
        (root / "debootstrap").rmdir()
    for rel in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "mnt/config", "root/.ssh",
                "etc/dropbear"):
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "root/.ssh").chmod(0o700)
    (root / "etc/hostname").write_text(HOSTNAME + "\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
    (root / "etc/resolv.conf").write_text("")  # the guest init writes the DHCP server's
    (root / "etc/apt/sources.list").write_text(f"deb {mirror} {suite} main\n")
    rc_local = root / "etc/rc.local"
    rc_local.write_text(RC_LOCAL)
    rc_local.chmod(0o755)


def _archived(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)


def write_tarball(root: Path, dest: Path, level: int = 1) -> None:
    """``root`` as a gzip-compressed tar (level 1: 2.4 s of CPU for the 130 MB tree where the default
    6 takes 5.8 s, for a tarball 9% larger; sorted, numeric owners, hard links kept; only directories,
    regular files and symlinks), written atomically."""
    root = Path(root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(path: str, arcname: str) -> None:
            st = os.lstat(path)
            if not _archived(st):
                return
            info = tar.gettarinfo(path, arcname)
            info.uname = info.gname = ""  # ids are what the guest's /etc/passwd means
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)

        add(str(root), ".")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            for name in sorted(dirnames + filenames):
                arc = name if rel == "." else f"{rel}/{name}"
                add(os.path.join(dirpath, name), arc)
    tmp.replace(dest)


def pack_rootfs(root: Path, dest: Path, mirror: str, suite: str) -> dict[str, str]:
    """The debootstrap tree ``root`` as the image tarball ``dest``; returns the image's properties."""
    prepare_rootfs(root, mirror, suite)
    write_tarball(root, dest)
    release = _os_release(root / "etc/os-release") or _os_release(root / "usr/lib/os-release")
    return {"os_distro": "debian", "os_version": release.get("VERSION_ID") or suite, "os_codename": suite,
            "os_admin_user": "root", "hw_architecture": os.uname().machine, "hw_guest": "container"}
