"""The test image a new cloud has to boot without internet, as devstack registers cirros.

``ensure_busybox_image`` builds the busybox root filesystem tarball (``imagebuild.build_busybox``: about
1 MB, ``disk_format=raw``, ``container_format=compressed``), keeps the build in a cache directory keyed
by the host's busybox and the guest init (so a restart re-uses it in milliseconds) and registers it
once as the public image ``busybox`` through the image service's in-process client. Used by the
all-in-one bootstrap and by ``onestack image build busybox``.

``ensure_vm_image`` does the same for the QEMU driver's ``busybox-vm`` (``onestack image build
busybox-vm``; see ``drivers.qemu.vmimage``): three images, kernel (aki), ramdisk (ari) and a qcow2 root
disk pointing at them with ``kernel_id``/``ramdisk_id``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .drivers.container import imagebuild
from .drivers.container.errors import ContainerError
from .drivers.container.guestinit import INIT_SCRIPT
from .drivers.qemu import vmimage
from .drivers.qemu.errors import QemuError

log = logging.getLogger(__name__)

NAME = "busybox"


class TestImageUnavailable(Exception):
    """The image cannot be built on this host (busybox-static is missing)."""


def _busybox() -> str | None:
    return shutil.which("busybox") or (os.path.exists("/bin/busybox") and "/bin/busybox") or None


def busybox_tarball(cache_dir: Path) -> Path:
    """The built tarball, from ``cache_dir`` when this busybox and init were built before."""
    busybox = _busybox()
    if busybox is None:
        raise TestImageUnavailable("busybox is not installed (apt-get install busybox-static)")
    st = os.stat(busybox)
    key = hashlib.sha256(f"{INIT_SCRIPT}\0{busybox}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{NAME}-{key}.tar.gz"
    if path.exists():
        return path
    try:
        built = imagebuild.build_busybox(path, busybox)
    except ContainerError as exc:
        raise TestImageUnavailable(str(exc)) from None
    for old in Path(cache_dir).glob(f"{NAME}-*.tar.gz"):
        if old != built.path:
            old.unlink(missing_ok=True)
    return built.path


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            yield block


def ensure_busybox_image(image_client, cache_dir: Path, name: str = NAME, force: bool = False) -> dict:
    """The active public image ``name`` (created and uploaded unless one exists; ``force``: a new one)."""
    existing = [] if force else image_client.find_images(name)
    for image in existing:
        if image.get("status") == "active" and image.get("visibility") == "public":
            return image
    path = busybox_tarball(cache_dir)
    built = imagebuild.BuiltImage(path, name)
    queued = next((i for i in existing if i.get("status") == "queued" and i.get("visibility") == "public"), None)
    image = queued or image_client.create_image(
        None, name=name, disk_format=built.disk_format, container_format=built.container_format,
        visibility="public", **dict(built.properties))
    image = image_client.upload_image_data(image["id"], _chunks(path))
    log.info("registered the public image %s (%s, %d bytes)", name, image.get("id"), path.stat().st_size)
    return image


def bootstrap(image_client, cache_dir: Path, vm: bool = False) -> dict | None:
    """At first start: the busybox image (and with ``vm``, for the QEMU driver, ``busybox-vm``), or a
    logged warning when this host cannot build it."""
    if vm:
        try:
            ensure_vm_image(image_client, cache_dir)
        except TestImageUnavailable as exc:
            log.warning("no %s test image registered: %s", VM_NAME, exc)
    try:
        return ensure_busybox_image(image_client, cache_dir)
    except TestImageUnavailable as exc:
        log.warning("no %s test image registered: %s", NAME, exc)
        return None


VM_NAME = "busybox-vm"


def vm_image_files(cache_dir: Path) -> vmimage.VmImage:
    """The QEMU test image's kernel, ramdisk and root disk (built once into ``cache_dir``; the kernel
    .deb is fetched with ``apt-get download``)."""
    busybox = _busybox()
    if busybox is None:
        raise TestImageUnavailable("busybox is not installed (apt-get install busybox-static)")
    missing = [t for t in ("dpkg-deb", "mkfs.ext4", "qemu-img") if not shutil.which(t)]
    if missing:
        raise TestImageUnavailable(f"{', '.join(missing)} not installed (apt-get install dpkg e2fsprogs qemu-utils)")
    try:
        return vmimage.build_vm_image(Path(cache_dir) / VM_NAME, Path(cache_dir) / "debs", busybox)
    except QemuError as exc:
        raise TestImageUnavailable(str(exc)) from None


def ensure_vm_image(image_client, cache_dir: Path, name: str = VM_NAME, force: bool = False) -> dict:
    """The active public QEMU image ``name``: a qcow2 root disk whose ``kernel_id``/``ramdisk_id`` name
    the public ``<name>-kernel`` (aki) and ``<name>-ramdisk`` (ari) images, uploaded with it."""
    existing = [] if force else image_client.find_images(name)
    for image in existing:
        if image.get("status") == "active" and image.get("visibility") == "public":
            return image
    files = vm_image_files(cache_dir)
    ids = {}
    for suffix, fmt, path in (("kernel", "aki", files.kernel), ("ramdisk", "ari", files.ramdisk)):
        image = image_client.create_image(None, name=f"{name}-{suffix}", disk_format=fmt, container_format=fmt,
                                          visibility="public", os_distro="busybox")
        ids[suffix] = image_client.upload_image_data(image["id"], _chunks(path))["id"]
    image = image_client.create_image(
        None, name=name, disk_format="qcow2", container_format="bare", visibility="public", os_distro="busybox",
        min_ram=128,
        kernel_id=ids["kernel"], ramdisk_id=ids["ramdisk"], os_command_line=files.command_line,
        hypervisor_type="qemu", hw_disk_bus="virtio", hw_vif_model="virtio")
    image = image_client.upload_image_data(image["id"], _chunks(files.root))
    log.info("registered the public image %s (%s; kernel %s, ramdisk %s)", name, image.get("id"), ids["kernel"],
             ids["ramdisk"])
    return image
