"""The driver contract against real LXC containers (backend: needs root and Debian's lxc)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time

import pytest

from onestack.compute.drivers.base import FlavorSpec, GuestDriverError, ImageSpec, Interface, PowerState
from onestack.compute.drivers.container import imagebuild
from onestack.compute.drivers.container.driver import ContainerGuestDriver
from onestack.compute.drivers.container.overlay import mounts_below
from tests.compute.drivers.contract import GuestDriverContract, make_guest

pytestmark = pytest.mark.backend


@pytest.fixture(scope="module")
def busybox(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("lxc-start"):
        pytest.skip("needs root and lxc")
    path = imagebuild.build_busybox(tmp_path_factory.mktemp("img") / "busybox.tar.gz").path
    return path, hashlib.sha512(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def container_driver(tmp_path_factory, busybox):
    state = tmp_path_factory.mktemp("container-driver")
    driver = ContainerGuestDriver(state, prefix="oc" + secrets.token_hex(2), stop_timeout=3)
    yield driver
    for uuid in driver.list_guests():
        driver.destroy(uuid)
    driver.cache.clear()
    assert not mounts_below(state)


class TestContainerGuestDriver(GuestDriverContract):
    @pytest.fixture
    def driver(self, container_driver):
        return container_driver

    @pytest.fixture
    def guest_factory(self, busybox):
        path, digest = busybox

        def factory(**kw):
            image = ImageSpec(id="busybox-contract", disk_format="raw", container_format="compressed",
                              properties={"os_hash_value": digest, "os_hash_algo": "sha512"}, path=str(path))
            return make_guest(image=image, **kw)
        return factory


def _spy(monkeypatch, func: str, key, after=None) -> list:
    """Record each call of the container runtime's module function ``func``: ``key(*args, **kw)``, or
    ``after(key(...))`` once the call returned."""
    from onestack.compute.drivers.container import runtime

    seen, real = [], getattr(runtime, func)

    def wrapper(*args, **kw):
        out = real(*args, **kw)
        seen.append(key(*args, **kw) if after is None else after(key(*args, **kw)))
        return out
    monkeypatch.setattr(runtime, func, wrapper)
    return seen



def _busybox_image(busybox) -> ImageSpec:
    path, digest = busybox
    return ImageSpec(id="busybox-contract", disk_format="raw", container_format="compressed",
                     properties={"os_hash_value": digest}, path=str(path))


def _busybox_guest(busybox, **kw):
    return make_guest(image=_busybox_image(busybox), **kw)


def test_spawn_guest_gets_config_drive(container_driver, busybox):
    guest = _busybox_guest(busybox, hostname="vm-cfg", key_data="ssh-ed25519 AAAA key@test",
                           user_data="IyEvYmluL3NoCmVjaG8gVUQtT0sK",  # "#!/bin/sh\necho UD-OK\n"
                           flavor=FlavorSpec(vcpus=1, memory_mb=64, root_gb=1),
                           interfaces=(Interface(port_id="0123456789abcdef", mac_address="fa:16:3e:12:34:56"),))
    container_driver.spawn(guest)
    try:
        rt, name = container_driver.runtime, container_driver._name(guest.uuid)
        assert rt.wait_console(name, "UD-OK", 10), rt.console_tail(name)
        out = rt.attach(name, ["/bin/sh", "-c", "hostname; cat /root/.ssh/authorized_keys; "
                                                "cat /sys/class/net/eth0/address"]).stdout
        assert out.split("\n")[:3] == ["vm-cfg", "ssh-ed25519 AAAA key@test", "fa:16:3e:12:34:56"]
        assert "onestack-init: ready" in container_driver.console_output(guest.uuid)
    finally:
        container_driver.destroy(guest.uuid)


def test_a_destroyed_guests_directory_serves_the_next_guest_with_nothing_of_its_own(container_driver, busybox):
    """destroy keeps the guest's directory, emptied, and the next new guest boots in it: its own config drive,
    console and a fresh root disk, nothing of the destroyed guest's (key, files, console)."""
    rt = container_driver.runtime
    first = _busybox_guest(busybox, key_data="ssh-ed25519 AAAA secret-key")
    container_driver.spawn(first)
    name = container_driver._name(first.uuid)
    assert rt.wait_console(name, "onestack-init: ready", 10), rt.console_tail(name)
    rt.attach(name, ["/bin/sh", "-c", "echo left-behind > /root/marker"])
    inode = rt.dir(name).stat().st_ino
    container_driver.destroy(first.uuid)
    assert not rt.dir(name).exists() and inode in {p.stat().st_ino for p in rt.spare.iterdir()}
    second = _busybox_guest(busybox)
    container_driver.spawn(second)
    try:
        name = container_driver._name(second.uuid)
        assert rt.dir(name).stat().st_ino in {inode} | {p.stat().st_ino for p in rt.spare.iterdir()}
        assert rt.wait_console(name, "onestack-init: ready", 10), rt.console_tail(name)
        out = rt.attach(name, ["/bin/sh", "-c", "cat /root/marker /root/.ssh/authorized_keys 2>&1; "
                                                "cat /mnt/config/onestack/hostname"]).stdout
        assert "secret-key" not in out and "left-behind" not in out and second.hostname in out, out
        assert first.hostname not in container_driver.console_output(second.uuid)
    finally:
        container_driver.destroy(second.uuid)


def test_power_off_with_timeout_is_a_clean_shutdown(container_driver, busybox, monkeypatch):
    """The API's stop passes [compute] shutdown_timeout: the guest's init gets the halt signal and stops its
    processes itself, long before the timeout would have it killed."""
    guest = _busybox_guest(busybox)
    container_driver.spawn(guest)
    try:
        rt, name = container_driver.runtime, container_driver._name(guest.uuid)
        assert rt.wait_console(name, "onestack-init: ready", 10), rt.console_tail(name)
        calls = _spy(monkeypatch, "_lxc", lambda cmd, *args, **kw: (cmd, *args))
        container_driver.power_off(guest.uuid, timeout=120)
        assert calls and not [c for c in calls if "-k" in c], calls  # not killed at the timeout
        assert container_driver.info(guest.uuid).power_state == PowerState.SHUTDOWN
        assert "onestack-init: stopping" in container_driver.console_output(guest.uuid)
    finally:
        container_driver.destroy(guest.uuid)


def test_spawn_guest_refuses_image_with_bad_checksum(container_driver, busybox):
    path, _ = busybox
    guest = make_guest(image=ImageSpec(id="busybox-badsum", disk_format="raw", container_format="compressed",
                                       properties={"os_hash_value": "0" * 128}, path=str(path)))
    with pytest.raises(Exception, match="os_hash_value"):
        container_driver.spawn(guest)
    assert guest.uuid not in container_driver.list_guests()


def test_info_paused_guest_after_adoption(container_driver, busybox, tmp_path):
    guest = _busybox_guest(busybox)
    other = make_guest(image=guest.image)
    container_driver.spawn(guest)
    container_driver.spawn(other)
    container_driver.suspend(guest.uuid)
    restarted = ContainerGuestDriver(container_driver.state_dir, prefix=container_driver.runtime.prefix)
    assert restarted.adopt({guest.uuid}) == [other.uuid]
    assert restarted.info(guest.uuid).power_state == PowerState.SUSPENDED
    # the removed guest no longer holds the cached image (else no prune would ever evict it)
    (cached,) = [i for i in restarted.cache.list() if i.image_id == "busybox-contract"]
    assert cached.users == (restarted._name(guest.uuid),)
    restarted.destroy(guest.uuid)


def test_snapshot_is_a_raw_disk_that_boots(container_driver, busybox, tmp_path):
    """createImage registers snapshots as raw/bare: the snapshot is one ext4 filesystem with the guest's
    files (not the runtime's), and a guest boots from it."""
    image = _busybox_image(busybox)
    source = make_guest(image=image, hostname="vm-snap")
    container_driver.spawn(source)
    try:
        name = container_driver._name(source.uuid)
        assert container_driver.runtime.wait_console(name, "onestack-init: ready")
        container_driver.runtime.attach(name, ["/bin/sh", "-c", "echo kept > /root/marker"])
        snap = tmp_path / "snap.raw"
        assert container_driver.snapshot(source.uuid, str(snap)) == "raw"
        assert snap.read_bytes()[1024 + 56:1024 + 58] == b"\x53\xef"  # the ext4 superblock magic
        copy = make_guest(image=ImageSpec(id="snap-" + source.uuid[:8], disk_format="raw", container_format="bare",
                                          path=str(snap)), hostname="vm-from-snap")
        container_driver.spawn(copy)
        copy_name = container_driver._name(copy.uuid)
        assert container_driver.runtime.wait_console(copy_name, "onestack-init: ready")
        out = container_driver.runtime.attach(copy_name, ["/bin/sh", "-c", "cat /root/marker"]).stdout
        assert out.strip() == "kept"
        container_driver.destroy(copy.uuid)
    finally:
        container_driver.destroy(source.uuid)


def test_resize_keeps_the_guests_files_applies_limits_and_grows_the_disk(container_driver, busybox):
    """Resize is the same guest under a new flavor (as Nova: the disk comes along): without a driver resize
    the agent destroyed and spawned the guest, which lost every file written since the boot."""
    image = _busybox_image(busybox)
    guest = make_guest(image=image, hostname="vm-resize", flavor=FlavorSpec(vcpus=1, memory_mb=64, root_gb=1))
    container_driver.spawn(guest)
    try:
        name = container_driver._name(guest.uuid)
        assert container_driver.runtime.wait_console(name, "onestack-init: ready")
        container_driver.runtime.attach(name, ["/bin/sh", "-c", "echo kept > /root/marker"])
        container_driver.resize(guest.uuid, FlavorSpec(vcpus=2, memory_mb=96, root_gb=2))
        container_driver.power_off(guest.uuid)  # as the agent: the guest restarts under the new flavor
        container_driver.power_on(guest.uuid)
        assert container_driver.runtime.wait_console(name, "onestack-init: ready")
        out = container_driver.runtime.attach(name, ["/bin/sh", "-c", "cat /root/marker; df -k / | tail -1"]).stdout
        marker, df = out.splitlines()[0], out.splitlines()[-1].split()
        assert marker == "kept" and int(df[1]) > 1536 * 1024, out  # the 2 GB disk (ext4 overhead aside)
        spec = container_driver.runtime.spec(name)
        assert spec.limits.vcpus == 2 and spec.limits.memory_mb == 96 and spec.disk_bytes == 2 << 30
        container_driver.resize(guest.uuid, FlavorSpec(vcpus=1, memory_mb=64, root_gb=1))  # a resize: no shrink
        assert container_driver.runtime.spec(name).disk_bytes == 2 << 30
        out = container_driver.runtime.attach(name, ["/bin/sh", "-c", "cat /root/marker"]).stdout
        assert out.strip() == "kept"
    finally:
        container_driver.destroy(guest.uuid)


def test_resize_keeps_the_source_disk_until_confirm_and_revert_goes_back_to_it(container_driver, busybox):
    """As Nova, which keeps the source disk until the resize is confirmed: revert_resize brings back the root
    disk as it was at the resize (its size, and its files: what was written since is gone) under the old
    limits; confirm_resize drops the kept disk; nothing is left in the guest's directory either way (it
    kept the grown disk, and the old flavor showed a 2 GB root filesystem)."""
    image = _busybox_image(busybox)
    small, big = FlavorSpec(vcpus=1, memory_mb=64, root_gb=1), FlavorSpec(vcpus=2, memory_mb=96, root_gb=2)
    guest = make_guest(image=image, hostname="vm-revert", flavor=small)
    container_driver.spawn(guest)
    name = container_driver._name(guest.uuid)
    disk = container_driver.runtime.disk(name)
    files_before = sorted(p.name for p in container_driver.runtime.dir(name).iterdir())
    try:
        sh = lambda cmd: container_driver.runtime.attach(name, ["/bin/sh", "-c", cmd]).stdout  # noqa: E731
        assert container_driver.runtime.wait_console(name, "onestack-init: ready")
        sh("echo before > /root/before")
        size_before = disk.size()
        container_driver.resize(guest.uuid, big)
        assert disk.kept.exists() and disk.kept.stat().st_size == size_before and disk.size() == 2 << 30
        container_driver.power_off(guest.uuid)  # as the agent: restarted under the new flavor
        container_driver.power_on(guest.uuid)
        assert container_driver.runtime.wait_console(name, "onestack-init: ready")
        sh("echo after > /root/after")
        container_driver.revert_resize(guest.uuid, small)
        container_driver.power_off(guest.uuid)
        container_driver.power_on(guest.uuid)
        assert container_driver.runtime.wait_console(name, "onestack-init: ready")
        out = sh("cat /root/before; ls /root; df -k / | tail -1").splitlines()
        assert out[0] == "before" and "after" not in out[1:-1], out
        assert int(out[-1].split()[1]) < 1536 * 1024, out  # the 1 GB disk again
        spec = container_driver.runtime.spec(name)
        assert spec.disk_bytes == 1 << 30 and spec.limits.vcpus == 1 and spec.limits.memory_mb == 64
        assert disk.size() == size_before and not disk.kept.exists()
        assert sorted(p.name for p in container_driver.runtime.dir(name).iterdir()) == files_before
        # resize again, confirmed: the grown disk stays, the kept one goes
        container_driver.resize(guest.uuid, big)
        assert disk.kept.exists()
        container_driver.confirm_resize(guest.uuid)
        assert not disk.kept.exists() and disk.size() == 2 << 30
        assert sorted(p.name for p in container_driver.runtime.dir(name).iterdir()) == files_before
        container_driver.resize(guest.uuid, FlavorSpec(vcpus=1, memory_mb=64, root_gb=3))  # deleted unconfirmed
        assert disk.kept.exists()
    finally:
        container_driver.destroy(guest.uuid)
    assert not container_driver.runtime.dir(name).exists()


def _wait_for(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _nic_guest(busybox):
    return _busybox_guest(busybox, interfaces=(Interface(port_id=secrets.token_hex(8),
                                                         mac_address="fa:16:3e:00:00:01"),))


def test_guest_is_set_up_while_its_network_is_wired_and_its_init_waits(container_driver, busybox):
    """spawn runs network_ready while LXC sets the guest up (the two overlap), and the guest's init runs
    only once network_ready has returned: its first DHCP request meets a wired port."""
    guest = _nic_guest(busybox)
    rt, name = container_driver.runtime, container_driver._name(guest.uuid)
    seen = {}

    def network_ready():
        # the container exists and waits at the start gate: LXC got that far while we were "wiring"
        seen["held"] = _wait_for(lambda: f"{name}/start-gate" in _processes())
        seen["console"] = rt.console_tail(name) if rt.console_log(name).exists() else ""

    container_driver.spawn(guest, network_ready=network_ready)
    try:
        assert seen["held"], "the guest was never seen waiting at its start gate"
        assert "onestack-init" not in seen["console"]
        assert rt.wait_console(name, "onestack-init: ready", 10), rt.console_tail(name)
        assert not (rt.dir(name) / "start-gate").exists()
    finally:
        container_driver.destroy(guest.uuid)


def test_failed_network_ready_fails_the_start_at_once_and_leaves_nothing(container_driver, busybox, monkeypatch):
    guest = _nic_guest(busybox)
    name = container_driver._name(guest.uuid)

    def network_ready():
        assert _wait_for(lambda: f"{name}/start-gate" in _processes())
        raise GuestDriverError("Virtual Interface creation failed")

    finished = _spy(monkeypatch, "_finish", lambda proc, timeout: proc, lambda proc: proc.returncode)
    with pytest.raises(GuestDriverError, match="Virtual Interface creation failed"):
        container_driver.spawn(guest, network_ready=network_ready)
    # lxc-start ended by itself, failed (the gate said no), not killed at its 60 s limit
    assert len(finished) == 1 and finished[0] not in (0, -9), finished
    assert guest.uuid not in container_driver.list_guests()
    assert _wait_for(lambda: name not in _processes(), 10)  # LXC's own post-stop hooks finish
    assert not os.path.exists(f"/sys/class/net/{container_driver.devname(guest.interfaces[0].port_id)}")


def _processes() -> str:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return "\n".join(out)



def test_lxcfs_hooks_are_cleared_when_lxcfs_does_not_run(container_driver, busybox):
    """Debian's lxcfs package hooks every container (a shell at each start; post-stop an unconditional
    0.5 s sleep that every stop and delete waited for). Without the lxcfs daemon they do nothing: the
    guest's config clears them; with it they stay (they give guests lxcfs's /proc files)."""
    from onestack.compute.drivers.container import runtime

    if os.path.isdir(runtime.LXCFS_PROC):
        pytest.skip("lxcfs runs on this host")
    guest = _busybox_guest(busybox)
    container_driver.spawn(guest)
    try:
        rt, name = container_driver.runtime, container_driver._name(guest.uuid)
        config = (rt.dir(name) / "config").read_text().splitlines()
        assert "lxc.hook.mount =" in config and "lxc.hook.post-stop =" in config
        assert rt.wait_console(name, "onestack-init: ready", 10), rt.console_tail(name)
        container_driver.power_off(guest.uuid, timeout=10)
        assert container_driver.info(guest.uuid).power_state == PowerState.SHUTDOWN
    finally:
        container_driver.destroy(guest.uuid)
