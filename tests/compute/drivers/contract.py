"""The guest driver contract: every driver (fake, container, QEMU) runs these tests.

Subclass ``GuestDriverContract`` and provide a ``driver`` fixture (and ``guest_factory`` when the
driver needs a real image).  Tests skip only what the driver's capability attributes say it cannot do.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from onestack.compute.drivers.base import (
    FlavorSpec,
    Guest,
    GuestDriver,
    GuestNotFound,
    ImageSpec,
    Interface,
    PowerState,
    VolumeAttachment,
)


def make_guest(**kw) -> Guest:
    uid = str(uuid.uuid4())
    values = dict(uuid=uid, name=f"contract-{uid[:8]}", hostname=f"contract-{uid[:8]}",
                  flavor=FlavorSpec(vcpus=1, memory_mb=64, root_gb=0), image=ImageSpec(id="img"))
    values.update(kw)
    return Guest(**values)


class GuestDriverContract:
    @pytest.fixture
    def driver(self) -> GuestDriver:
        raise NotImplementedError

    @pytest.fixture
    def guest_factory(self):
        return make_guest

    @pytest.fixture
    def running(self, driver, guest_factory):
        guest = guest_factory()
        driver.spawn(guest)
        yield guest
        driver.destroy(guest.uuid)

    def _need(self, driver: GuestDriver, capability: str) -> None:
        if not getattr(driver, capability):
            pytest.skip(f"{driver.name} does not declare {capability}")

    def test_report_host_resources(self, driver):
        res = driver.host_resources()
        assert res.vcpus > 0 and res.memory_mb > 0 and res.disk_gb >= 0 and res.hypervisor_type

    def test_spawn_guest_runs_and_is_listed(self, driver, running):
        assert driver.info(running.uuid).power_state == PowerState.RUNNING
        assert running.uuid in driver.list_guests()

    def test_spawn_guest_twice_is_idempotent(self, driver, running):
        driver.spawn(running)
        assert driver.info(running.uuid).power_state == PowerState.RUNNING

    def test_destroy_guest_removes_it_and_is_idempotent(self, driver, guest_factory):
        guest = guest_factory()
        driver.spawn(guest)
        driver.destroy(guest.uuid)
        driver.destroy(guest.uuid)
        assert guest.uuid not in driver.list_guests()
        with pytest.raises(GuestNotFound):
            driver.info(guest.uuid)

    def test_info_unknown_guest_raises_not_found(self, driver):
        with pytest.raises(GuestNotFound):
            driver.info(str(uuid.uuid4()))

    def test_power_off_then_on_guest(self, driver, running):
        driver.power_off(running.uuid)
        assert driver.info(running.uuid).power_state == PowerState.SHUTDOWN
        driver.power_off(running.uuid)
        driver.power_on(running.uuid)
        assert driver.info(running.uuid).power_state == PowerState.RUNNING

    @pytest.mark.parametrize("hard", [False, True])
    def test_reboot_guest_keeps_it_running(self, driver, running, hard):
        driver.reboot(running.uuid, hard=hard)
        assert driver.info(running.uuid).power_state == PowerState.RUNNING

    def test_pause_unpause_guest(self, driver, running):
        self._need(driver, "supports_pause")
        driver.pause(running.uuid)
        assert driver.info(running.uuid).power_state == PowerState.PAUSED
        driver.unpause(running.uuid)
        assert driver.info(running.uuid).power_state == PowerState.RUNNING

    def test_suspend_resume_guest(self, driver, running):
        self._need(driver, "supports_suspend")
        driver.suspend(running.uuid)
        assert driver.info(running.uuid).power_state == PowerState.SUSPENDED
        driver.resume(running.uuid)
        assert driver.info(running.uuid).power_state == PowerState.RUNNING

    def test_snapshot_guest_writes_disk(self, driver, running, tmp_path):
        self._need(driver, "supports_snapshot")
        target = tmp_path / "snap"
        fmt = driver.snapshot(running.uuid, str(target))
        assert fmt in ("raw", "qcow2", "tar") and target.stat().st_size > 0

    def test_console_output_guest_is_text(self, driver, running):
        self._need(driver, "supports_console_output")
        out = driver.console_output(running.uuid)
        assert isinstance(out, str)
        assert len(driver.console_output(running.uuid, 1).splitlines()) <= 1

    def test_attach_detach_interface_guest(self, driver, running):
        self._need(driver, "supports_interface_attach")
        iface = Interface(port_id=str(uuid.uuid4()), mac_address="fa:16:3e:00:00:01")
        driver.attach_interface(running.uuid, iface)
        driver.detach_interface(running.uuid, iface.port_id)

    @pytest.fixture
    def volume_attachment(self, driver, tmp_path):
        """A 64 MiB volume connected the way the driver asks (``volume_connection``): a file or a loop device."""
        path = tmp_path / "volume.img"
        with open(path, "wb") as f:
            f.truncate(64 << 20)
        device = None
        if driver.volume_connection == "loop":
            device = subprocess.run(["losetup", "-f", "--show", str(path)], capture_output=True, text=True,
                                    check=True).stdout.strip()
        info = {"driver_volume_type": driver.volume_connection, "path": str(path), "device": device,
                "data": {"path": str(path), "device_path": device or str(path), "access_mode": "rw",
                         **({"device": device} if device else {})}}
        yield VolumeAttachment(volume_id=str(uuid.uuid4()), device="/dev/vdb", connection_info=info)
        if device:
            subprocess.run(["losetup", "-d", device], capture_output=True)

    def test_attach_detach_volume_guest(self, driver, running, volume_attachment):
        self._need(driver, "supports_volume_attach")
        driver.attach_volume(running.uuid, volume_attachment)
        driver.attach_volume(running.uuid, volume_attachment)  # idempotent
        driver.detach_volume(running.uuid, volume_attachment.volume_id)
        driver.detach_volume(running.uuid, volume_attachment.volume_id)

    def test_attach_volume_to_stopped_guest_then_start(self, driver, running, volume_attachment):
        self._need(driver, "supports_volume_attach")
        driver.power_off(running.uuid)
        driver.attach_volume(running.uuid, volume_attachment)
        driver.power_on(running.uuid)  # starts with the volume (removed with the guest)
        assert driver.info(running.uuid).power_state == PowerState.RUNNING
