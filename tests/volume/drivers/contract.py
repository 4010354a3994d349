"""The volume driver contract: every driver (fake, file, later LVM/RBD/NFS) passes these tests.

A driver's test module subclasses ``VolumeDriverContract`` and provides a ``driver`` fixture that
yields a fresh driver and cleans up after it.  Tests skip only what the driver's capability
attributes say it cannot do.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from onestack.volume.drivers.base import GIB, SnapshotSpec, VolumeDriverError, VolumeSource, VolumeSpec


def vid() -> str:
    return str(uuid.uuid4())


class VolumeDriverContract:
    @pytest.fixture
    def driver(self):
        raise NotImplementedError

    def test_create_volume_empty_reads_zeros(self, driver):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        assert driver.volume_exists(spec.id)
        assert driver.volume_size(spec.id) == GIB
        assert driver.read(spec.id, GIB - 4096, 4096) == bytes(4096)

    def test_create_volume_twice_is_idempotent(self, driver):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        driver.write(spec.id, 0, b"keep")
        driver.create_volume(spec)
        assert driver.read(spec.id, 0, 4) == b"keep"

    def test_delete_volume_twice_is_fine(self, driver):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        driver.delete_volume(spec.id)
        driver.delete_volume(spec.id)
        assert not driver.volume_exists(spec.id)

    def test_extend_volume_keeps_data(self, driver):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        driver.write(spec.id, 100, b"data")
        driver.extend_volume(VolumeSpec(spec.id, 3))
        assert driver.volume_size(spec.id) == 3 * GIB
        assert driver.read(spec.id, 100, 4) == b"data"
        driver.write(spec.id, 3 * GIB - 4, b"tail")

    def test_extend_missing_volume_raises(self, driver):
        with pytest.raises(VolumeDriverError):
            driver.extend_volume(VolumeSpec(vid(), 2))

    def test_create_snapshot_is_point_in_time(self, driver):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        driver.write(spec.id, 0, b"before")
        snap = SnapshotSpec(vid(), spec.id, 1)
        driver.create_snapshot(snap)
        driver.create_snapshot(snap)  # idempotent
        driver.write(spec.id, 0, b"after!")
        restored = VolumeSpec(vid(), 2)
        driver.create_volume(restored, VolumeSource("snapshot", snap.id))
        assert driver.read(restored.id, 0, 6) == b"before"
        assert driver.volume_size(restored.id) == 2 * GIB
        driver.delete_snapshot(snap.id)
        driver.delete_snapshot(snap.id)
        assert not driver.snapshot_exists(snap.id)

    def test_create_volume_clone_of_volume(self, driver):
        src = VolumeSpec(vid(), 1)
        driver.create_volume(src)
        driver.write(src.id, 4096, b"clone-me")
        clone = VolumeSpec(vid(), 1)
        driver.create_volume(clone, VolumeSource("volume", src.id))
        driver.write(src.id, 4096, b"changed!")
        assert driver.read(clone.id, 4096, 8) == b"clone-me"

    def test_create_volume_from_larger_source_raises(self, driver):
        src = VolumeSpec(vid(), 2)
        driver.create_volume(src)
        small = VolumeSpec(vid(), 1)
        with pytest.raises(VolumeDriverError):
            driver.create_volume(small, VolumeSource("volume", src.id))
        assert not driver.volume_exists(small.id)

    def test_create_volume_from_missing_source_raises(self, driver):
        spec = VolumeSpec(vid(), 1)
        with pytest.raises(VolumeDriverError):
            driver.create_volume(spec, VolumeSource("snapshot", vid()))
        assert not driver.volume_exists(spec.id)

    def test_create_volume_from_raw_file(self, driver, tmp_path):
        image = tmp_path / "image.raw"
        image.write_bytes(b"raw-image" + bytes(1000))
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec, VolumeSource("file", path=str(image), disk_format="raw"))
        assert driver.read(spec.id, 0, 9) == b"raw-image"
        assert driver.volume_size(spec.id) == GIB

    def test_create_volume_from_qcow2_file(self, driver, tmp_path):
        if "qcow2" not in driver.image_formats or shutil.which("qemu-img") is None:
            pytest.skip("driver does not read qcow2 (or qemu-img is missing)")
        raw = tmp_path / "image.raw"
        raw.write_bytes(b"qcow2-payload" + bytes(4083))
        qcow = tmp_path / "image.qcow2"
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)], check=True)
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec, VolumeSource("file", path=str(qcow), disk_format="qcow2"))
        assert driver.read(spec.id, 0, 13) == b"qcow2-payload"

    def test_create_volume_from_too_large_file_raises(self, driver, tmp_path):
        image = tmp_path / "big.raw"
        with open(image, "wb") as fh:
            fh.truncate(2 * GIB)
        spec = VolumeSpec(vid(), 1)
        with pytest.raises(VolumeDriverError):
            driver.create_volume(spec, VolumeSource("file", path=str(image)))
        assert not driver.volume_exists(spec.id)

    def test_export_volume_raw_roundtrip(self, driver, tmp_path):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        driver.write(spec.id, 512, b"exported")
        dest = tmp_path / "out" / "volume.raw"
        driver.export_volume(spec.id, dest, "raw")
        assert dest.stat().st_size == GIB
        with open(dest, "rb") as fh:
            fh.seek(512)
            assert fh.read(8) == b"exported"
        copy = VolumeSpec(vid(), 1)
        driver.create_volume(copy, VolumeSource("file", path=str(dest)))
        assert driver.read(copy.id, 512, 8) == b"exported"

    def test_attach_file_is_idempotent(self, driver):
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        first = driver.attach(spec.id, "file")
        assert driver.attach(spec.id, "file") == first
        info = first.as_dict()
        assert info["driver_volume_type"] == "file" and info["data"]["path"]
        driver.detach(spec.id)
        driver.detach(spec.id)

    def test_attach_missing_volume_raises(self, driver):
        with pytest.raises(VolumeDriverError):
            driver.attach(vid(), "file")

    def test_attach_block_device_sees_data_and_online_extend(self, driver):
        if not driver.can_attach_block:
            pytest.skip("driver has no block devices")
        spec = VolumeSpec(vid(), 1)
        driver.create_volume(spec)
        driver.write(spec.id, 0, b"through-the-device")
        conn = driver.attach(spec.id, "loop")
        try:
            assert conn.device and Path(conn.device).exists()
            assert driver.attach(spec.id, "loop").device == conn.device
            with open(conn.device, "rb") as fh:
                assert fh.read(18) == b"through-the-device"
            driver.extend_volume(VolumeSpec(spec.id, 2))
            name = Path(conn.device).name
            sectors = int(Path(f"/sys/block/{name}/size").read_text())
            assert sectors * 512 == 2 * GIB
        finally:
            driver.detach(spec.id)
        assert driver.attach(spec.id, "file").device is None
        driver.delete_volume(spec.id)
