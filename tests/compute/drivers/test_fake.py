import pytest

from onestack.compute.drivers.base import GuestDriverError, GuestNotFound
from onestack.compute.drivers.fake import FakeGuestDriver
from tests.compute.drivers.contract import GuestDriverContract, make_guest


class TestFakeGuestDriver(GuestDriverContract):
    @pytest.fixture
    def driver(self):
        return FakeGuestDriver()


def test_spawn_guest_fails_when_configured():
    driver = FakeGuestDriver(fail={"spawn"})
    with pytest.raises(GuestDriverError):
        driver.spawn(make_guest())


def test_spawn_guest_fails_by_metadata():
    driver = FakeGuestDriver()
    guest = make_guest(metadata={"fake_fail": "spawn"})
    with pytest.raises(GuestDriverError):
        driver.spawn(guest)
    with pytest.raises(GuestNotFound):
        driver.info(guest.uuid)


def test_pause_guest_that_is_off_is_error():
    driver = FakeGuestDriver()
    guest = make_guest()
    driver.spawn(guest)
    driver.power_off(guest.uuid)
    with pytest.raises(GuestDriverError):
        driver.pause(guest.uuid)
