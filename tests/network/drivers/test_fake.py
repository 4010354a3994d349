from __future__ import annotations

import pytest

from onestack.network.drivers.fake import FakeNetworkDriver

from .contract import NetworkDriverContract


class TestFakeNetworkDriver(NetworkDriverContract):
    @pytest.fixture
    def driver(self):
        return FakeNetworkDriver()

    def test_fake_remembers_firewall(self, driver):
        driver.apply_firewall(())
        assert driver.firewall == ()
