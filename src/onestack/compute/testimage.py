"""The test image a new cloud has to boot without internet, as devstack registers cirros.

``ensure_busybox_image`` builds the busybox root filesystem tarball (``imagebuild.build_busybox``: about
1 MB, ``disk_format=raw``, ``container_format=compressed``), keeps the build in a cache directory keyed
by the host's busybox and the guest init (so a restart re-uses it in milliseconds) and registers it
once as the public image ``busybox`` through the image service's in-process client. Used by the
all-in-one bootstrap and by ``onestack image build busybox``.

``ensure_vm_image`` does the same for the QEMU driver's ``busybox-vm`` (``onestack image build
busybox-vm``; see ``drivers.qemu.vmimage``): three images, kernel (aki), ramdisk (ari) and a qcow2 root
disk pointing at them with ``kernel_id``/``ramdisk_id``.

``ensure_debian_image`` registers ``debian`` (``onestack image build debian``; see
``drivers.container.debianimage``): a debootstrap minbase root filesystem tarball of the host's suite,
the same kind of image as ``busybox``, booted by the container driver's built-in guest init. Only this
one needs the network (the mirror); its tarball is cached like busybox's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .drivers.container import debianimage, imagebuild
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
    extra = imagebuild.sshd_files()
    h = hashlib.sha256((INIT_SCRIPT + "".join(imagebuild.SCRIPTS.values())).encode())
    for source in (Path(busybox), *sorted(extra.values())):  # a package upgrade builds a new image
        st = os.stat(source)
        h.update(f"\0{source}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    key = h.hexdigest()[:16]
    path = Path(cache_dir) / f"{NAME}-{key}.tar.gz"
    if path.exists():
        return path
    try:
        built = imagebuild.build_busybox(path, busybox, extra)
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


DEBIAN_NAME = "debian"


@dataclass(frozen=True)
class DebianBuild:
    path: Path
    properties: dict
    suite: str
    mirror: str
    cached: bool


def debian_tarball(cache_dir: Path, mirror: str | None = None, suite: str | None = None,
                   progress: Callable[[str], None] = lambda _: None) -> DebianBuild:
    """The Debian image tarball, from ``cache_dir`` when this suite/mirror/package set was built before;
    else debootstrap (minutes) into a build dir there, packed and cached with its properties beside it."""
    cache_dir = Path(cache_dir)
    suite = suite or debianimage.host_suite()
    if not suite:
        raise TestImageUnavailable("this host's Debian suite is unknown (no VERSION_CODENAME in /etc/os-release): "
                                   "pass --suite NAME, e.g. bookworm")
    if mirror is None:
        mirror = debianimage.host_mirror(suite)
        if mirror is None:
            progress(f"no apt source of {suite} on this host: using {debianimage.DEFAULT_MIRROR} (--mirror URL "
                     "to choose)")
            mirror = debianimage.DEFAULT_MIRROR
    mirror = mirror.rstrip("/")
    key = hashlib.sha256("\0".join((suite, mirror, os.uname().machine, *debianimage.PACKAGES,
                                    debianimage.RC_LOCAL, debianimage.PACK_VERSION)).encode()).hexdigest()[:16]
    path = cache_dir / f"{DEBIAN_NAME}-{suite}-{key}.tar.gz"
    meta = _properties_file(path)
    if path.exists() and meta.exists():
        return DebianBuild(path, json.loads(meta.read_text()), suite, mirror, cached=True)
    try:
        debianimage.check_mirror(mirror, suite)
        progress(f"debootstrap {suite} (minbase + {', '.join(debianimage.PACKAGES)}) from {mirror}: this takes "
                 "a few minutes")
        cache_dir.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{DEBIAN_NAME}-build-", dir=cache_dir))
        try:
            started = time.monotonic()
            debianimage.debootstrap(build / "rootfs", suite, mirror, cache_dir / "debian-debs", progress)
            progress(f"debootstrap done in {time.monotonic() - started:.0f} s; packing {path.name}")
            properties = debianimage.pack_rootfs(build / "rootfs", path, mirror, suite)
        finally:
            debianimage.unmount_below(build)
            shutil.rmtree(build, ignore_errors=True)
    except debianimage.DebianImageError as exc:
        raise TestImageUnavailable(str(exc)) from None
    except OSError as exc:  # e.g. the data dir's disk is full: ~300 MB are needed while building
        raise TestImageUnavailable(f"building the debian image in {cache_dir} failed: {exc}") from None
    meta.write_text(json.dumps(properties, sort_keys=True))
    for old in cache_dir.glob(f"{DEBIAN_NAME}-*.tar.gz"):
        if old != path:
            old.unlink(missing_ok=True)
            _properties_file(old).unlink(missing_ok=True)
    return DebianBuild(path, properties, suite, mirror, cached=False)


def _properties_file(tarball: Path) -> Path:
    return tarball.with_name(tarball.name.removesuffix(".tar.gz") + ".json")


def ensure_debian_image(image_client, cache_dir: Path, name: str = DEBIAN_NAME, force: bool = False,
                        mirror: str | None = None, suite: str | None = None,
                        progress: Callable[[str], None] = lambda _: None) -> dict:
    """The active public image ``name`` (built, or taken from the build cache, and uploaded unless one
    exists; ``force``: a new one)."""
    existing = [] if force else image_client.find_images(name)
    for image in existing:
        if image.get("status") == "active" and image.get("visibility") == "public":
            return image
    built = debian_tarball(cache_dir, mirror, suite, progress)
    image = image_client.create_image(None, name=name, disk_format="raw", container_format="compressed",
                                      visibility="public", **built.properties)
    image = image_client.upload_image_data(image["id"], _chunks(built.path))
    log.info("registered the public image %s (%s, %d bytes)", name, image.get("id"), built.path.stat().st_size)
    return image
