"""The driver contract against real QEMU guests (backend: root, qemu-system-x86_64, genisoimage).

Guests boot the ``busybox-vm`` test image (Debian cloud kernel + busybox initramfs + ext4 root) under
TCG.  Contract tests do not wait for the guest's boot; the tests below this class do, with generous
deadlines (TCG on a loaded 2-core machine), polling the serial console.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from onestack.compute.drivers.base import (
    FlavorSpec,
    GuestDriverError,
    ImageSpec,
    Interface,
    PowerState,
    VolumeAttachment,
)
from onestack.compute.drivers.container.rootfs import sniff
from onestack.compute.drivers.qemu import accel, process, vmimage
from onestack.compute.drivers.qemu.driver import QemuGuestDriver
from tests.compute.drivers.contract import GuestDriverContract, make_guest

pytestmark = pytest.mark.backend

BOOT_DEADLINE = 180.0  # seconds: TCG under heavy load
PING = ["ping"] if shutil.which("ping") else ["busybox", "ping"]  # iputils-ping is not always installed


def _image_cache() -> Path:
    return Path(os.environ.get("ONESTACK_TEST_CACHE") or Path.home() / ".cache" / "onestack-test") / "busybox-vm"


@pytest.fixture(scope="session")
def vm_images():
    missing = [t for t in ("qemu-system-x86_64", "qemu-img", "genisoimage", "dpkg-deb") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        pytest.skip(f"needs root and {', '.join(missing) or 'nothing'}")
    built = vmimage.build_vm_image(_image_cache(), _image_cache() / "debs")

    def spec(image_id: str, path: Path, fmt: str, cfmt: str, **props: str) -> ImageSpec:
        digest = hashlib.sha512(path.read_bytes()).hexdigest()
        return ImageSpec(id=image_id, disk_format=fmt, container_format=cfmt, path=str(path),
                         properties={"os_hash_value": digest, **props})

    kernel = spec("bbvm-kernel", built.kernel, "aki", "aki")
    ramdisk = spec("bbvm-ramdisk", built.ramdisk, "ari", "ari")
    root = spec("bbvm-root", built.root, "qcow2", "bare", kernel_id=kernel.id, ramdisk_id=ramdisk.id,
                os_command_line=built.command_line)
    return {i.id: i for i in (kernel, ramdisk, root)}


@pytest.fixture(scope="module")
def qemu_driver(tmp_path_factory, vm_images):
    state = tmp_path_factory.mktemp("qemu-driver")
    driver = QemuGuestDriver(state, prefix="oq" + secrets.token_hex(3), accel_mode="tcg", stop_timeout=5,
                             resolve_image=vm_images.get)
    yield driver
    for uid in driver.list_guests():
        driver.destroy(uid)
    assert not list(driver.run_dir.glob(f"{driver.prefix}*"))


def vm_guest(vm_images, **kw):
    kw.setdefault("flavor", FlavorSpec(vcpus=1, memory_mb=128, root_gb=1))
    return make_guest(image=vm_images["bbvm-root"], **kw)


def alive(pid: int | None) -> bool:
    try:
        return pid is not None and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_console(driver: QemuGuestDriver, uid: str, text: str, deadline: float = BOOT_DEADLINE) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        out = driver.console_output(uid)
        if text in out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on the console of {uid} after {deadline:.0f} s:\n"
                         + driver.console_output(uid, 40))


@pytest.fixture(scope="module")
def booted(qemu_driver, vm_images):
    guest = vm_guest(vm_images)
    qemu_driver.spawn(guest)
    wait_console(qemu_driver, guest.uuid, "onestack-init: ready")
    yield guest
    qemu_driver.destroy(guest.uuid)


class TestQemuGuestDriver(GuestDriverContract):
    @pytest.fixture
    def driver(self, qemu_driver):
        return qemu_driver

    @pytest.fixture
    def guest_factory(self, vm_images):
        return lambda **kw: vm_guest(vm_images, **kw)

    @pytest.fixture
    def volume_attachment(self, tmp_path):
        path = tmp_path / "volume.img"
        with open(path, "wb") as f:
            f.truncate(16 << 20)
        return VolumeAttachment(volume_id=str(uuid.uuid4()), device="/dev/vdb",
                                connection_info={"driver_volume_type": "file", "path": str(path)})

    # Hot-unplug completes only when the guest OS answers the ACPI eject request, so these two run on
    # one guest that has finished booting (shared: booting under TCG is the slow part).
    def test_attach_detach_interface_guest(self, driver, booted):
        super().test_attach_detach_interface_guest(driver, booted)

    def test_attach_detach_volume_guest(self, driver, booted, volume_attachment):
        super().test_attach_detach_volume_guest(driver, booted, volume_attachment)


def test_spawn_guest_refuses_tarball_images(qemu_driver):
    guest = make_guest(image=ImageSpec(id="tarball", disk_format="raw", container_format="compressed"),
                       flavor=FlavorSpec(vcpus=1, memory_mb=128, root_gb=1))
    with pytest.raises(GuestDriverError, match="container driver"):
        qemu_driver.spawn(guest)
    assert guest.uuid not in qemu_driver.list_guests()


def test_spawn_guest_refuses_flavor_too_small_for_a_kernel(qemu_driver, vm_images):
    guest = vm_guest(vm_images, flavor=FlavorSpec(vcpus=1, memory_mb=64, root_gb=1))
    with pytest.raises(GuestDriverError, match="at least 128 MB"):
        qemu_driver.spawn(guest)
    assert guest.uuid not in qemu_driver.list_guests()


def test_spawn_guest_refuses_image_with_bad_checksum(qemu_driver, vm_images):
    root = vm_images["bbvm-root"]
    bad = ImageSpec(id="bbvm-badsum", disk_format="qcow2", container_format="bare", path=root.path,
                    properties={**root.properties, "os_hash_value": "0" * 128})
    guest = make_guest(image=bad, flavor=FlavorSpec(vcpus=1, memory_mb=128, root_gb=1))
    with pytest.raises(GuestDriverError, match="os_hash_value"):
        qemu_driver.spawn(guest)
    assert guest.uuid not in qemu_driver.list_guests()


def test_accelerator_probe_boots_a_guest_and_is_cached(tmp_path, vm_images):
    kernel = vm_images["bbvm-kernel"].path
    cache = tmp_path / "accel.json"
    assert accel.choose("tcg", cache, "qemu-system-x86_64", kernel).accel == "tcg"
    assert not cache.exists()  # an override is not a probe result
    first = accel.choose("auto", cache, "qemu-system-x86_64", kernel)
    assert first.accel in ("tcg", "kvm") and first.why
    again = accel.choose("auto", cache, "qemu-system-x86_64", kernel)
    assert again.accel == first.accel and "probed before" in again.why


def test_guest_boots_applies_config_drive_and_lives_through_actions(qemu_driver, vm_images, tmp_path):
    """One booted guest: config drive (hostname, key, user_data), volume hot-plug and online extend seen
    by the guest, snapshot, adoption after an agent restart, resize at the next power cycle."""
    user_data = ("#!/bin/sh\necho UD-OK\nwhile [ ! -b /dev/vdc ]; do sleep 0.2; done\necho VDC-SEEN\n"
                 "while [ \"$(cat /sys/block/vdc/size)\" != 32768 ]; do sleep 0.2; done\necho VDC-GREW\n")
    import base64

    guest = vm_guest(vm_images, hostname="vm-cfg", key_data="ssh-ed25519 AAAA key@test",
                     user_data=base64.b64encode(user_data.encode()).decode())
    other = vm_guest(vm_images)
    qemu_driver.spawn(guest)
    qemu_driver.spawn(other)
    try:
        out = wait_console(qemu_driver, guest.uuid, "UD-OK")
        assert "onestack-init: hostname vm-cfg" in out and "ssh key installed for root" in out
        assert "onestack-initramfs: config drive vdb" in out

        vol = tmp_path / "vol.img"
        with open(vol, "wb") as f:
            f.truncate(8 << 20)
        qemu_driver.attach_volume(guest.uuid, VolumeAttachment(
            volume_id="0f2c0d51-5c2e-4d3c-9d3e-8a9b2c1d0e1f", device="/dev/vdc",
            connection_info={"driver_volume_type": "file", "path": str(vol)}))
        wait_console(qemu_driver, guest.uuid, "VDC-SEEN")
        with open(vol, "r+b") as f:  # block storage grew the file; the guest sees 16 MiB only after the resize
            f.truncate(16 << 20)
        qemu_driver.extend_volume(guest.uuid, "0f2c0d51-5c2e-4d3c-9d3e-8a9b2c1d0e1f", 16 << 20)
        wait_console(qemu_driver, guest.uuid, "VDC-GREW")
        qemu_driver.detach_volume(guest.uuid, "0f2c0d51-5c2e-4d3c-9d3e-8a9b2c1d0e1f")

        snap = tmp_path / "snap.qcow2"
        assert qemu_driver.snapshot(guest.uuid, str(snap)) == "qcow2"
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(snap)], capture_output=True,
                                         text=True, check=True).stdout)
        assert info["format"] == "qcow2" and "backing-filename" not in info  # standalone: the chain flattened
        assert snap.stat().st_size < info["virtual-size"] // 4  # the written clusters, not the whole disk
        raw = tmp_path / "snap.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(snap), str(raw)], check=True)
        assert sniff(raw) == "ext4"
        assert qemu_driver.info(guest.uuid).power_state == PowerState.RUNNING

        qemu_driver.suspend(guest.uuid)
        restarted = QemuGuestDriver(qemu_driver.state_dir, prefix=qemu_driver.prefix, accel_mode="tcg",
                                    resolve_image=vm_images.get)
        stray = vm_guest(vm_images)  # a QEMU whose guest directory vanished (crash in the middle of a delete)
        qemu_driver.spawn(stray)
        stray_pid = process.pid_of(qemu_driver._require(stray.uuid))
        shutil.rmtree(qemu_driver.state_dir / "guests" / stray.uuid)
        known = set(restarted.list_guests()) - {other.uuid}  # the module's other guests stay too
        assert set(restarted.adopt(known)) == {other.uuid, stray.uuid}
        end = time.monotonic() + 60
        while alive(stray_pid):
            assert time.monotonic() < end, "the stray QEMU still runs"
            time.sleep(0.1)
        assert restarted.info(guest.uuid).power_state == PowerState.SUSPENDED
        restarted.resume(guest.uuid)

        restarted.resize(guest.uuid, FlavorSpec(vcpus=2, memory_mb=192, root_gb=2))
        restarted.power_off(guest.uuid, timeout=BOOT_DEADLINE)  # the ACPI power button: the guest init powers off
        assert "onestack-init: powering off" in restarted.console_output(guest.uuid)
        restarted.power_on(guest.uuid)
        info = restarted.info(guest.uuid)
        assert (info.power_state, info.vcpus, info.memory_mb) == (PowerState.RUNNING, 2, 192)
        disk = Path(restarted._require(guest.uuid).disk)
        assert b'"virtual-size": 2147483648' in subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", "-f", "qcow2", str(disk)], capture_output=True).stdout
    finally:
        qemu_driver.destroy(guest.uuid)
        qemu_driver.destroy(other.uuid)


def test_boot_guest_from_volume(qemu_driver, vm_images, tmp_path):
    root = vm_images["bbvm-root"]
    volume = tmp_path / "boot.img"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", root.path, str(volume)], check=True)
    boot = VolumeAttachment(volume_id=str(uuid.uuid4()), device="/dev/vda", boot_index=0, image=root,
                            connection_info={"driver_volume_type": "file", "path": str(volume),
                                             "data": {"access_mode": "rw"}})
    guest = make_guest(image=None, volumes=(boot,), hostname="vm-bfv",
                       flavor=FlavorSpec(vcpus=1, memory_mb=128, root_gb=0))
    qemu_driver.spawn(guest)
    try:
        assert "onestack-init: hostname vm-bfv" in wait_console(qemu_driver, guest.uuid, "onestack-init: ready")
        assert qemu_driver._require(guest.uuid).disk == str(volume)
    finally:
        qemu_driver.destroy(guest.uuid)
    assert volume.exists()  # the volume belongs to block storage


@pytest.fixture
def lan(vm_images):
    """A bridge with an address and a dnsmasq serving fixed DHCP leases, all prefixed for this run."""
    tag = secrets.token_hex(2)
    bridge = f"oqbr{tag}"
    net = ipaddress.ip_network(f"10.251.{secrets.randbelow(200) + 20}.0/24")
    host_ip = str(net[1])
    work = Path(f"/tmp/oq-lan-{tag}")
    work.mkdir()
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"{host_ip}/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    hosts = {"fa:16:3e:51:00:0a": str(net[10]), "fa:16:3e:51:00:0b": str(net[11])}
    (work / "hosts").write_text("".join(f"{mac},{ip}\n" for mac, ip in hosts.items()))
    dnsmasq = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
         "--bind-interfaces", f"--interface={bridge}", "--except-interface=lo",
         f"--dhcp-range={net[10]},static,255.255.255.0,1h", f"--dhcp-hostsfile={work / 'hosts'}",
         f"--dhcp-leasefile={work / 'leases'}", f"--pid-file={work / 'pid'}", "--user=root", "--group=root",
         f"--log-facility={work / 'log'}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield bridge, hosts
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(10)
        subprocess.run(["ip", "link", "del", bridge], check=False)
        shutil.rmtree(work, ignore_errors=True)


def test_guests_on_one_bridge_get_dhcp_and_reach_each_other(qemu_driver, vm_images, lan):
    bridge, hosts = lan
    (mac_a, ip_a), (mac_b, ip_b) = hosts.items()
    tag = bridge[-4:]

    def iface(mac: str, n: int) -> Interface:
        return Interface(port_id=str(uuid.uuid4()), mac_address=mac,
                         details={"devname": f"oqt{tag}{n}", "bridge_name": bridge})

    import base64
    probe = f"#!/bin/sh\nfor i in $(seq 120); do ping -c1 -W1 {ip_a} >/dev/null 2>&1 && " \
            f"{{ echo PEER-OK; exit 0; }}; sleep 1; done; echo PEER-FAIL\n"
    a = vm_guest(vm_images, interfaces=(iface(mac_a, 0),))
    b = vm_guest(vm_images, interfaces=(iface(mac_b, 1),), user_data=base64.b64encode(probe.encode()).decode())
    qemu_driver.spawn(a)
    qemu_driver.spawn(b)
    try:
        assert f"dhcp eth0 {ip_a}/24" in wait_console(qemu_driver, a.uuid, "onestack-init: dhcp eth0")
        end = time.monotonic() + BOOT_DEADLINE
        while subprocess.run([*PING, "-c1", "-W1", ip_a], capture_output=True).returncode != 0:
            assert time.monotonic() < end, "the guest does not answer ping from the host's side of the bridge"
        out = wait_console(qemu_driver, b.uuid, "PEER-")
        assert "PEER-OK" in out, out
    finally:
        qemu_driver.destroy(a.uuid)
        qemu_driver.destroy(b.uuid)
    assert not Path(f"/sys/class/net/oqt{tag}0").exists()


def test_clean_stop_presses_the_power_button_again_until_the_guest_listens(qemu_driver, vm_images, monkeypatch):
    """A stop right after the start: the first press comes before the guest's ACPI and init are up, a later
    one powers it off cleanly (without the repeat QEMU would be quit at the timeout). A paused guest cannot
    react to the button at all: it is quit at once instead of after the timeout."""
    fresh, paused = vm_guest(vm_images), vm_guest(vm_images)
    try:
        qemu_driver.spawn(fresh)
        qemu_driver.spawn(paused)
        qemu_driver.power_off(fresh.uuid, timeout=BOOT_DEADLINE)
        assert "onestack-init: powering off" in qemu_driver.console_output(fresh.uuid)
        assert qemu_driver.info(fresh.uuid).power_state == PowerState.SHUTDOWN
        qemu_driver.pause(paused.uuid)
        sent, execute = [], process.QmpClient.execute

        def recording(self, command, arguments=None):
            sent.append(command)
            return execute(self, command, arguments)
        monkeypatch.setattr(process.QmpClient, "execute", recording)
        qemu_driver.power_off(paused.uuid, timeout=BOOT_DEADLINE)
        assert "system_powerdown" not in sent and "quit" in sent, sent  # no button pressed in vain until the timeout
        assert qemu_driver.info(paused.uuid).power_state == PowerState.SHUTDOWN
    finally:
        qemu_driver.destroy(fresh.uuid)
        qemu_driver.destroy(paused.uuid)


def test_interface_hot_plugged_into_paused_then_running_guest_appears_and_goes(qemu_driver, vm_images, lan):
    """os-interface on a real TCG guest: a port plugged while the server is paused (QMP ``stop``) appears in
    the guest once it runs, takes its DHCP lease and answers ping; unplugged while paused again (no wait for
    the guest's answer to the eject request), the guest loses it once it runs."""
    bridge, hosts = lan
    mac, ip = next(iter(hosts.items()))
    probe = ("#!/bin/sh\n"  # reports the NIC with the port's MAC coming and going, and configures it
             f"while :; do for n in /sys/class/net/*; do [ \"$(cat $n/address)\" = {mac} ] && break; n=; done\n"
             "  [ -n \"$n\" ] && break; sleep 0.2; done\n"
             "echo \"PROBE-NIC-UP ${n##*/}\"\n"
             "udhcpc -n -q -T 1 -t 30 -i ${n##*/} -s /sbin/onestack-init >/dev/null 2>&1\n"
             "while [ -e $n ]; do sleep 0.2; done; echo PROBE-NIC-GONE\n")
    import base64
    guest = vm_guest(vm_images, user_data=base64.b64encode(probe.encode()).decode())
    qemu_driver.spawn(guest)
    iface = Interface(port_id=str(uuid.uuid4()), mac_address=mac,
                      details={"devname": f"oqt{bridge[-4:]}h", "bridge_name": bridge})
    try:
        wait_console(qemu_driver, guest.uuid, "onestack-init: ready")
        qemu_driver.pause(guest.uuid)
        qemu_driver.attach_interface(guest.uuid, iface)
        assert qemu_driver.info(guest.uuid).power_state == PowerState.PAUSED
        assert "PROBE-NIC-UP" not in qemu_driver.console_output(guest.uuid)
        qemu_driver.unpause(guest.uuid)
        out = wait_console(qemu_driver, guest.uuid, f"onestack-init: dhcp eth0 {ip}/24")
        assert "PROBE-NIC-UP eth0" in out
        end = time.monotonic() + BOOT_DEADLINE
        while subprocess.run([*PING, "-c1", "-W1", ip], capture_output=True).returncode != 0:
            assert time.monotonic() < end, "the hot-plugged NIC does not answer ping"
        qemu_driver.pause(guest.uuid)
        qemu_driver.detach_interface(guest.uuid, iface.port_id)
        qemu_driver.unpause(guest.uuid)
        wait_console(qemu_driver, guest.uuid, "PROBE-NIC-GONE")
        assert not Path(f"/sys/class/net/{iface.details['devname']}").exists()
    finally:
        qemu_driver.destroy(guest.uuid)
