"""Volumes inside a container: a host block device (the volume's loop device) seen by the guest as
``/dev/vdb``..., and a volume holding the guest's root filesystem.

At start, LXC config lines allow the device in the guest's devices cgroup (v1 ``devices.allow``; the
guest gets nothing else) and bind-mount the host node onto ``/dev/vdX`` in the guest's autodev ``/dev``.
Hot-plug into a running guest does the same by hand: the allow rule is written into the guest's
devices cgroup from the host, and the node is made by ``mknod`` run inside the guest through
``lxc-attach`` (the guest's own binary, with the guest's namespaces, cgroups and capabilities — never a
guest-controlled path or binary used with host privileges).  Unplug denies the device again,
lazily unmounts whatever the guest mounted from it (found by device number in the guest's
mountinfo, read from the host) and removes the node: like pulling a disk, the guest keeps no access.

A root volume is mounted (``nodev``: the guest's /dev is LXC's) as the guest's root filesystem, read
and written directly: everything the guest writes is on the volume, so it survives the server and
boots again elsewhere.  A volume that holds no filesystem yet but was made from an image (e.g. the
busybox root filesystem tarball, whose bytes are not a disk) is formatted once with the image's
tree (``mkfs.ext4 -d``, from the host's image cache, which has already extracted it safely).
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ContainerError
from .overlay import is_mounted


@dataclass(frozen=True)
class BlockDevice:
    path: str  # the node in the guest: /dev/vdb
    source: str  # the host block device: /dev/loop7
    volume_id: str = ""


def numbers(source: str) -> tuple[int, int]:
    try:
        st = os.stat(source)
    except OSError as exc:
        raise ContainerError(f"volume device {source} is not available: {exc.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise ContainerError(f"{source} is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _devices_v1() -> bool:
    with open("/proc/self/cgroup") as f:
        return any("devices" in line.split(":")[1].split(",") for line in f)


def lxc_config(devices: tuple[BlockDevice, ...]) -> list[str]:
    key = "lxc.cgroup.devices.allow" if _devices_v1() else "lxc.cgroup2.devices.allow"
    lines = []
    for dev in devices:
        major, minor = numbers(dev.source)
        lines += [f"{key} = b {major}:{minor} rwm",
                  f"lxc.mount.entry = {dev.source} {dev.path.lstrip('/')} none bind,create=file 0 0"]
    return lines


def _cgroup_dir(pid: int) -> Path:
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if fields and fields[0] == "cgroup" and "devices" in fields[2].split(","):
                mounts["devices"] = Path(pre.split()[4])
    if "devices" not in mounts:
        raise ContainerError("no cgroup v1 devices controller: cannot hot-plug volumes")
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, rel = line.strip().split(":", 2)
            if "devices" in names.split(","):
                return mounts["devices"] / rel.lstrip("/")
    raise ContainerError(f"process {pid} has no devices cgroup")


def _attach(name: str, lxcpath: Path, script: str, *args: str) -> None:
    r = subprocess.run(["lxc-attach", "-P", str(lxcpath), "-n", name, "--clear-env", "--", "/bin/sh", "-c",
                        "PATH=/usr/sbin:/usr/bin:/sbin:/bin:/.onestack/bin; " + script, "sh", *args],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ContainerError(f"in the guest: {(r.stderr or r.stdout).strip()[-300:]}")


def plug(name: str, lxcpath: Path, pid: int, dev: BlockDevice) -> None:
    major, minor = numbers(dev.source)
    (_cgroup_dir(pid) / "devices.allow").write_text(f"b {major}:{minor} rwm")
    _attach(name, lxcpath, 'rm -f -- "$1" && mknod -m 0660 -- "$1" b "$2" "$3"', dev.path, str(major), str(minor))


def unplug(name: str, lxcpath: Path, pid: int, dev: BlockDevice) -> None:
    try:
        major, minor = numbers(dev.source)
    except ContainerError:
        major = minor = -1
    if major >= 0:
        (_cgroup_dir(pid) / "devices.deny").write_text(f"b {major}:{minor} rwm")
        mounted = []
        with open(f"/proc/{pid}/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[2] == f"{major}:{minor}":
                    mounted.append(fields[4].encode().decode("unicode_escape"))
        for mountpoint in sorted(mounted, key=len, reverse=True):
            _attach(name, lxcpath, 'umount -l -- "$1"', mountpoint)
    # a node LXC bind-mounted at start is a mount point itself
    _attach(name, lxcpath, 'umount -l -- "$1" 2>/dev/null; rm -f -- "$1"', dev.path)


# -- root filesystem on a volume ---------------------------------------------------------------------------


def fs_type(device: str) -> str:
    r = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", device], capture_output=True, text=True)
    return r.stdout.strip()


def format_from_tree(device: str, tree: Path) -> None:
    """Make ``device`` an ext4 filesystem holding a copy of ``tree`` (no mount needed)."""
    r = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-d", str(tree), device], capture_output=True,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise ContainerError(f"the root volume could not be made from the image: {r.stderr.strip()[-300:]}")


def mount_root(device: str, rootfs: Path) -> Path:
    rootfs.mkdir(parents=True, exist_ok=True)
    if is_mounted(rootfs):
        return rootfs
    kind = fs_type(device)
    if kind.startswith("ext"):
        subprocess.run(["e2fsck", "-p", device], capture_output=True)  # as a VM's boot fsck; rc<4 is fine
    r = subprocess.run(["mount", "-o", "nodev", device, str(rootfs)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ContainerError(f"the root volume cannot be mounted ({kind or 'no filesystem'}): "
                             f"{r.stderr.strip()[-300:]}")
    return rootfs
