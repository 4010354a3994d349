"""Kernel/initramfs images (aki/ari) in the shared image cache, as the QEMU driver uses them."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from onestack.compute.drivers.container.imagecache import ImageCache
from onestack.compute.drivers.container.rootfs import FormatMismatch, ImageError, ImageKind, inspect_image

KERNEL = b"\0" * 0x202 + b"HdrS" + b"\0" * 1000  # the bzImage setup header magic at 0x202


def test_inspect_image_accepts_kernel_and_initramfs(tmp_path):
    kernel, ramdisk = tmp_path / "k", tmp_path / "r"
    kernel.write_bytes(KERNEL)
    ramdisk.write_bytes(gzip.compress(b"070701" + b"0" * 200))
    assert inspect_image(kernel, "aki", "aki").kind is ImageKind.BOOT
    assert inspect_image(ramdisk, "ari", "ari").kind is ImageKind.BOOT


def test_inspect_image_refuses_mislabelled_boot_images(tmp_path):
    kernel = tmp_path / "k"
    kernel.write_bytes(KERNEL)
    junk = tmp_path / "j"
    junk.write_bytes(b"not a kernel" * 100)
    with pytest.raises(FormatMismatch):
        inspect_image(junk, "aki", "aki")
    with pytest.raises(FormatMismatch):
        inspect_image(junk, "ari", "ari")
    with pytest.raises(ImageError):
        inspect_image(kernel, "aki", "bare")


def test_image_cache_without_mount_keeps_verified_file(tmp_path):
    cache = ImageCache(tmp_path / "cache", mount=False)
    digest = hashlib.sha512(KERNEL).hexdigest()
    cache.ensure("kern-1", disk_format="aki", container_format="aki", checksum=digest, fetch=lambda: [KERNEL])
    assert cache.data("kern-1").read_bytes() == KERNEL
    assert [i.image_id for i in cache.list()] == ["kern-1"]
