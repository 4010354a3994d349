"""The fake volume driver passes the driver contract."""

import pytest

from onestack.volume.drivers.fake import FakeVolumeDriver

from .contract import VolumeDriverContract


class TestFakeVolumeDriver(VolumeDriverContract):
    @pytest.fixture
    def driver(self):
        return FakeVolumeDriver()
