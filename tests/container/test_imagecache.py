"""The per-host image cache: one download per image, checksum, inspection, read-only lowers, prune."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from onestack.compute.drivers.container.imagecache import ChecksumMismatch
from onestack.compute.drivers.container.overlay import is_mounted
from onestack.compute.drivers.container.rootfs import ImageError

from .conftest import chunks

pytestmark = pytest.mark.backend


def test_ensure_image_downloads_once(cache, busybox_image):
    path, digest = busybox_image
    calls = []

    def fetch():
        calls.append(1)
        return chunks(path)()

    a = cache.ensure("img-a", disk_format="raw", container_format="compressed", checksum=digest, fetch=fetch)
    b = cache.ensure("img-a", disk_format="raw", container_format="compressed", checksum=digest, fetch=fetch)
    assert a == b and len(calls) == 1 and (a / "bin/busybox").exists()
    assert [i.image_id for i in cache.list()] == ["img-a"]


def test_ensure_image_refuses_bad_checksum_and_keeps_nothing(cache, busybox_image):
    path, _ = busybox_image
    with pytest.raises(ChecksumMismatch):
        cache.ensure("img-b", disk_format="raw", container_format="compressed", checksum="ab" * 64,
                     fetch=chunks(path))
    assert cache.list() == [] and not [p for p in cache.root.iterdir() if p.is_dir()]
    assert cache.prune() == [] and not list(cache.root.iterdir())  # nor its lock file, once pruned


def test_ensure_image_refuses_declared_format_mismatch(cache, busybox_image):
    path, digest = busybox_image
    with pytest.raises(ImageError, match="qcow2"):
        cache.ensure("img-c", disk_format="qcow2", container_format="bare", checksum=digest, fetch=chunks(path))


def test_qcow2_filesystem_image_is_mounted_read_only(cache, tmp_path, runtime_layer):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/motd").write_text("from a qcow2\n")
    raw, q = tmp_path / "fs.raw", tmp_path / "fs.qcow2"
    with open(raw, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(raw)], check=True)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(q)], check=True)
    digest = hashlib.sha512(q.read_bytes()).hexdigest()
    lower = cache.ensure("img-q", disk_format="qcow2", container_format="bare", checksum=digest, fetch=chunks(q))
    assert (lower / "etc/motd").read_text() == "from a qcow2\n" and is_mounted(lower)
    with pytest.raises(OSError):
        (lower / "etc/new").write_text("x")  # read-only


def test_prune_evicts_only_unused_old_images(cache, busybox_image):
    path, digest = busybox_image
    for image_id in ("old-used", "old-free"):
        cache.ensure(image_id, disk_format="raw", container_format="compressed", checksum=digest, fetch=chunks(path))
    cache.acquire("old-used", "guest1")
    assert cache.prune(max_unused_age=3600) == []  # too recent
    assert cache.prune(max_unused_age=-1) == ["old-free"]
    cache.release("old-used", "guest1")
    assert cache.prune(max_unused_age=-1) == ["old-used"] and cache.list() == []
