"""The file volume driver (sparse files, reflink/sparse copies, qemu-img, loop devices) passes the contract."""

import os
import subprocess

import pytest

from onestack.volume.drivers.file import FileVolumeDriver

from .contract import VolumeDriverContract

pytestmark = pytest.mark.backend


class TestFileVolumeDriver(VolumeDriverContract):
    @pytest.fixture
    def driver(self, tmp_path):
        root = tmp_path / "volumes"
        driver = FileVolumeDriver(root)
        if os.geteuid() != 0:
            driver.can_attach_block = False
        yield driver
        for path in root.glob("*.img"):
            out = subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True).stdout
            for line in out.splitlines():
                subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=False)
        leftovers = [p.name for p in root.iterdir() if p.name.startswith(".")]
        assert not leftovers, f"temporary files left behind: {leftovers}"


def test_create_volume_is_sparse(tmp_path):
    driver = FileVolumeDriver(tmp_path)
    from onestack.volume.drivers.base import VolumeSpec

    driver.create_volume(VolumeSpec("thin", 10))
    stat = driver.volume_path("thin").stat()
    assert stat.st_size == 10 * 1024 ** 3
    assert stat.st_blocks * 512 < 1024 ** 2


def test_create_driver_removes_stale_temporaries(tmp_path):
    dead = tmp_path / ".volume-x.img.999999999.part"
    dead.write_bytes(b"half a copy")
    mine = tmp_path / f".volume-y.img.{os.getpid()}.part"
    mine.write_bytes(b"in progress")
    FileVolumeDriver(tmp_path)
    assert not dead.exists() and mine.exists()
