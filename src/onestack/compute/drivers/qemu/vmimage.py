"""``onestack image build busybox-vm``: a QEMU test image made from Debian packages, offline but for
one ``apt-get download`` of the cloud kernel.

Three artifacts, registered AMI-style as upstream Nova's libvirt driver boots them (direct kernel
boot: QEMU ``-kernel``/``-initrd``/``-append``):

==================  ===========  ================  =================================================
image               disk_format  container_format  content
==================  ===========  ================  =================================================
``<name>-kernel``   ``aki``      ``aki``           ``vmlinuz`` of Debian's ``linux-image-*-cloud-amd64``
``<name>-ramdisk``  ``ari``      ``ari``           busybox initramfs: loads the virtio modules (in
                                                   dependency order: the .deb has no modules.dep and
                                                   the guest no kmod), mounts ``root=`` and the config
                                                   drive, ``switch_root``s to the root's /sbin/init
``<name>``          ``qcow2``    ``bare``          ext4 root filesystem: the busybox tree of the
                                                   container test image with the onestack guest init;
                                                   properties ``kernel_id``, ``ramdisk_id``,
                                                   ``os_command_line``, ``hypervisor_type=qemu``
==================  ===========  ================  =================================================

The kernel package is fetched with ``apt-get download`` (the package ``linux-image-cloud-amd64``
depends on) into the build cache; only ``vmlinuz`` and the few modules listed below are extracted.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..container import imagebuild
from ..container.guestinit import INIT_SCRIPT
from .errors import QemuError

KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
# insmod order matters (no modules.dep): each module after the ones it needs
MODULES = ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk",
           "failover", "net_failover", "virtio_net", "cdrom", "isofs", "button", "evdev")
ROOT_SIZE = "64M"
COMMAND_LINE = "console=ttyS0 root=/dev/vda rw quiet"

INITRAMFS_INIT = r"""#!/bin/busybox sh
# onestack VM initramfs: virtio drivers, root disk, config drive, then the root's init
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko 2>/dev/null; done
root=/dev/vda; init=/sbin/init
for arg in $(cat /proc/cmdline); do
  case "$arg" in root=*) root=${arg#root=} ;; init=*) init=${arg#init=} ;; esac
done
i=0; while [ ! -b "$root" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p /newroot
if ! mount -t ext4 -o rw "$root" /newroot; then
  echo "onestack-initramfs: cannot mount the root disk $root"; sleep 5; poweroff -f
fi
for d in /sys/block/vd*; do
  if [ "$(cat $d/serial 2>/dev/null)" = config-2 ]; then
    mkdir -p /newroot/mnt/config
    mount -t iso9660 -o ro /dev/${d##*/} /newroot/mnt/config && echo "onestack-initramfs: config drive ${d##*/}"
  fi
done
mkdir -p /newroot/dev /newroot/proc /newroot/sys
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot "$init"
"""

VM_INIT = r"""#!/bin/sh
# pid 1 of onestack VM guests: runs the onestack guest init; the ACPI power button
# (QMP system_powerdown) and SIGPWR/SIGTERM stop it and power the VM off
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
exec </dev/null >/dev/console 2>&1
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/class/net ] || mount -t sysfs sysfs /sys
off() {
  echo "onestack-init: powering off"
  kill -TERM "$child" 2>/dev/null; sleep 0.3; kill -KILL -1 2>/dev/null
  sync; umount -a -r 2>/dev/null; poweroff -f
}
trap off TERM PWR USR2 INT
/sbin/onestack-init &
child=$!
for e in /sys/class/input/event*; do
  if [ "$(cat $e/device/name 2>/dev/null)" = "Power Button" ]; then
    ( head -c 1 /dev/input/${e##*/} >/dev/null && kill -PWR 1 ) &
  fi
done
while :; do wait; sleep 1; done
"""


@dataclass(frozen=True)
class VmImage:
    kernel: Path
    ramdisk: Path
    root: Path
    kernel_version: str
    command_line: str = COMMAND_LINE


def kernel_deb(cache_dir: Path) -> Path:
    """The cloud kernel .deb in ``cache_dir``, fetched with ``apt-get download`` the first time."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = sorted(cache_dir.glob("linux-image-*-cloud-amd64_*.deb"))
    if found:
        return found[-1]
    r = subprocess.run(["apt-cache", "depends", KERNEL_META_PACKAGE], capture_output=True, text=True)
    pkg = next((line.split()[-1] for line in r.stdout.splitlines() if line.strip().startswith("Depends:")), None)
    if r.returncode != 0 or not pkg:
        raise QemuError(f"cannot resolve {KERNEL_META_PACKAGE} with apt-cache: {r.stderr.strip()[-200:]}")
    tmp = Path(tempfile.mkdtemp(prefix=".apt-", dir=cache_dir))
    try:
        r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=tmp, capture_output=True, text=True, timeout=600)
        debs = list(tmp.glob("*.deb"))
        if r.returncode != 0 or not debs:
            raise QemuError(f"apt-get download {pkg} failed: {r.stderr.strip()[-300:]}")
        dest = cache_dir / debs[0].name
        debs[0].replace(dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_kernel(deb: Path) -> tuple[bytes, dict[str, bytes], str]:
    """(vmlinuz, {module: .ko bytes}, version) read from the .deb without unpacking the rest."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    kernel, version, modules = b"", "", {}
    wanted = set(MODULES)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for m in tar:
                name = m.name.lstrip("./")
                base = os.path.basename(name)
                if name.startswith("boot/vmlinuz-") and m.isfile():
                    kernel, version = tar.extractfile(m).read(), name[len("boot/vmlinuz-"):]  # type: ignore[union-attr]
                elif name.startswith("lib/modules/") and base.endswith(".ko") and base[:-3] in wanted and m.isfile():
                    modules[base[:-3]] = tar.extractfile(m).read()  # type: ignore[union-attr]
    finally:
        proc.wait()
    missing = wanted - set(modules)
    if not kernel or missing:
        raise QemuError(f"{deb.name} lacks {'vmlinuz' if not kernel else ', '.join(sorted(missing))}")
    return kernel, modules, version


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (name, mode, data) entries (directories have empty data)."""
    out = io.BytesIO()

    def add(name: str, mode: int, data: bytes, ino: int) -> None:
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, imagebuild.MTIME, len(data), 0, 0, 0, 0, len(nb), 0)
        out.write(b"070701" + "".join(f"{v:08x}" for v in fields).encode() + nb)
        out.write(b"\0" * (-(110 + len(nb)) % 4) + data + b"\0" * (-len(data) % 4))

    for ino, (name, mode, data) in enumerate(entries, start=1):
        add(name, mode, data, ino)
    add("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def build_initramfs(modules: dict[str, bytes], busybox: str) -> bytes:
    d, x, f = 0o040755, 0o100755, 0o100644
    entries: list[tuple[str, int, bytes]] = [(n, d, b"") for n in ("bin", "dev", "proc", "sys", "lib", "lib/modules",
                                                                    "newroot", "mnt")]
    entries.append(("bin/busybox", x, Path(busybox).read_bytes()))
    entries.append(("init", x, INITRAMFS_INIT.encode()))
    entries.append(("lib/modules/order", f, ("\n".join(MODULES) + "\n").encode()))
    entries += [(f"lib/modules/{name}.ko", f, modules[name]) for name in MODULES]
    return gzip.compress(_cpio(entries), compresslevel=6, mtime=imagebuild.MTIME)


def build_root_disk(dest: Path, busybox: str, work: Path) -> None:
    """An ext4 root filesystem (qcow2) holding the busybox test tree with the VM init."""
    tree = work / "tree"
    tree.mkdir()
    tarball = imagebuild.build_busybox(work / "rootfs.tar.gz", busybox).path
    with tarfile.open(tarball) as tar:
        tar.extractall(tree, filter="fully_trusted")  # our own archive, built just above
    (tree / "sbin" / "init").unlink()
    (tree / "sbin" / "init").write_text(VM_INIT)
    (tree / "sbin" / "onestack-init").write_text(INIT_SCRIPT)
    for name in ("init", "onestack-init"):
        (tree / "sbin" / name).chmod(0o755)
    (tree / "etc" / "os-release").write_text('NAME="onestack busybox"\nID=busybox\n'
                                             'PRETTY_NAME="onestack busybox VM test image"\n')
    raw = work / "root.raw"
    for cmd in (["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(tree), "-E", "root_owner=0:0", str(raw), ROOT_SIZE],
                ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-c", str(raw), str(dest)]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise QemuError(f"{cmd[0]} failed: {r.stderr.strip()[-300:]}")


def build_vm_image(out_dir: Path, deb_cache: Path, busybox: str | None = None) -> VmImage:
    """Build kernel, ramdisk and root disk into ``out_dir`` (reused when already there)."""
    busybox = busybox or shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise QemuError("busybox is needed (apt-get install busybox-static)")
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel_p, ramdisk_p, root_p = out_dir / "vmlinuz", out_dir / "initrd.gz", out_dir / "root.qcow2"
    version_p = out_dir / "kernel-version"
    if all(p.exists() for p in (kernel_p, ramdisk_p, root_p, version_p)):
        return VmImage(kernel_p, ramdisk_p, root_p, version_p.read_text().strip())
    kernel, modules, version = extract_kernel(kernel_deb(deb_cache))
    work = Path(tempfile.mkdtemp(prefix=".vm-", dir=out_dir))
    try:
        (work / "vmlinuz").write_bytes(kernel)
        (work / "initrd.gz").write_bytes(build_initramfs(modules, busybox))
        build_root_disk(work / "root.qcow2", busybox, work)
        (work / "kernel-version").write_text(version + "\n")
        for p in (kernel_p, ramdisk_p, root_p, version_p):
            (work / p.name).replace(p)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return VmImage(kernel_p, ramdisk_p, root_p, version)
