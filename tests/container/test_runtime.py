"""Real system containers on LXC: boot, guest configuration, isolation, limits, lifecycle, cleanup."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from onestack.compute.drivers.container import cgroups, imagebuild
from onestack.compute.drivers.container.cgroups import Limits
from onestack.compute.drivers.container.runtime import FROZEN, RUNNING, STOPPED, ContainerSpec, Nic, Runtime

from .conftest import assert_nothing_left

pytestmark = pytest.mark.backend


def config_drive(tmp_path: Path, hostname: str, key: str = "", user_data: str = "", net: str = "") -> Path:
    root = tmp_path / f"cd-{hostname}"
    (root / "onestack").mkdir(parents=True)
    (root / "openstack/latest").mkdir(parents=True)
    (root / "onestack/hostname").write_text(hostname + "\n")
    (root / "onestack/authorized_keys").write_text(key)
    (root / "onestack/net").write_text(net)
    (root / "openstack/latest/user_data").write_text(user_data)
    return root


def boot(rt: Runtime, name: str, lowers, tmp_path: Path, **kw) -> int:
    cd = config_drive(tmp_path, kw.pop("hostname", name), **{k: kw.pop(k) for k in list(kw)
                                                              if k in ("key", "user_data", "net")})
    spec = ContainerSpec(name=name, hostname=name, lowers=tuple(lowers), config_drive=cd,
                         disk_bytes=kw.pop("disk_bytes", 128 << 20), **kw)
    rt.define(spec)
    pid = rt.start(name)
    assert rt.wait_console(name, "onestack-init: ready", 10), rt.console_tail(name)
    return pid


def sh(rt: Runtime, name: str, script: str) -> subprocess.CompletedProcess:
    return rt.attach(name, ["/bin/sh", "-c", script])


def test_guest_boots_with_config_drive(rt, busybox_lower, tmp_path):
    name = rt.prefix + "a"
    boot(rt, name, [busybox_lower], tmp_path, hostname="vm-one", key="ssh-ed25519 AAAAC3 test@key\n",
         user_data="#!/bin/sh\necho user-data-ran > /root/ud\necho USERDATA-MARKER\n")
    assert rt.wait_console(name, "USERDATA-MARKER", 5)
    log = rt.console_tail(name)
    assert "onestack-init: hostname vm-one" in log and "ssh key installed" in log
    r = sh(rt, name, "hostname; cat /root/.ssh/authorized_keys; cat /root/ud; cat /proc/1/cmdline")
    assert r.stdout.splitlines()[:3] == ["vm-one", "ssh-ed25519 AAAAC3 test@key", "user-data-ran"]
    assert "/sbin/init" in r.stdout


def test_image_without_init_boots_the_builtin_init(rt, runtime_layer, tmp_path):
    bare = tmp_path / "bare"
    (bare / "etc").mkdir(parents=True)
    (bare / "data.txt").write_text("no shell, no init\n")
    name = rt.prefix + "b"
    boot(rt, name, [runtime_layer, bare], tmp_path)
    r = rt.attach(name, ["/.onestack/busybox", "cat", "/data.txt", "/proc/1/cmdline"])
    assert r.stdout.startswith("no shell, no init") and "/.onestack/init" in r.stdout


def test_guests_are_isolated(rt, busybox_lower, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    a, b = rt.prefix + "a", rt.prefix + "b"
    boot(rt, a, [busybox_lower], tmp_path)
    boot(rt, b, [busybox_lower], tmp_path)
    sh(rt, b, "sleep 4242 >/dev/null 2>&1 &")
    r = sh(rt, a, f"ls {secret} 2>&1; ps -o args; ls /dev; cat /proc/1/comm")
    assert "No such file" in r.stdout
    assert "sleep 4242" not in r.stdout  # the other guest's processes are invisible
    assert "sleep 4242" in sh(rt, b, "ps -o args").stdout
    assert not any(d.startswith(("sd", "vd", "loop", "nvme")) for d in r.stdout.split())
    assert sh(rt, a, "ls /sys/class/net").stdout.split() == ["lo"]  # no host interfaces either
    # a block device node made inside cannot be opened: the devices cgroup denies it
    r = sh(rt, a, "mknod /tmp/l0 b 7 0 && head -c 1 /tmp/l0 >/dev/null && echo OPENED")
    assert "OPENED" not in r.stdout
    # the host's pid of the guest's init is in the guest's own pid namespace
    pid = rt.pid(a)
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink(f"/proc/{rt.pid(b)}/ns/mnt")


def test_limits_are_enforced(rt, busybox_lower, tmp_path):
    name = rt.prefix + "a"
    boot(rt, name, [busybox_lower], tmp_path, limits=Limits(vcpus=1, memory_mb=48, pids_max=24),
         disk_bytes=64 << 20)
    pid = rt.pid(name)
    mem_dir = cgroups.guest_dir(pid, "memory")
    assert mem_dir is not None and mem_dir.name == name
    assert mem_dir.parent == cgroups.hierarchy().v1.get("memory", mem_dir.parent)  # nested under ours
    r = sh(rt, name, "head -c 100m /dev/zero | tail > /dev/null; echo rc=$?")
    assert "rc=137" in r.stdout or r.returncode == 137  # OOM-killed
    r = sh(rt, name, "dd if=/dev/zero of=/big bs=1M count=100 2>&1; df -k / | tail -1")
    assert "No space left" in r.stdout  # the flavor's root disk is a real limit
    sh(rt, name, "for i in $(seq 1 40); do sleep 30 >/dev/null 2>&1 & done 2>/dev/null; echo started")
    pids = cgroups.guest_dir(pid, "pids")
    assert int((pids / "pids.max").read_text()) == 24 and 20 <= int((pids / "pids.current").read_text()) <= 24
    assert int((pids / "pids.events").read_text().split()[1]) > 0  # forks were refused at the limit


def test_guest_sees_its_vcpus_and_its_own_uptime(rt, busybox_lower, tmp_path):
    name = rt.prefix + "a"
    boot(rt, name, [busybox_lower], tmp_path, limits=Limits(vcpus=3))
    r = sh(rt, name, "grep -c ^processor /proc/cpuinfo; grep ^siblings /proc/cpuinfo | sort -u")
    assert r.stdout.split("\n")[:2] == ["3", "siblings\t: 3"], r.stdout  # the flavor's, not the host's
    rebooted = time.clock_gettime(time.CLOCK_BOOTTIME)
    rt.reboot(name, hard=True)
    uptime = float(sh(rt, name, "cat /proc/uptime").stdout.split()[0])
    # counted from the guest's (re)start, as a VM's: not the host's uptime
    assert 0 <= uptime <= time.clock_gettime(time.CLOCK_BOOTTIME) - rebooted + 1


def test_stop_start_keeps_the_rootfs(rt, busybox_lower, tmp_path):
    name = rt.prefix + "a"
    pid = boot(rt, name, [busybox_lower], tmp_path)
    sh(rt, name, "echo persisted > /root/state")
    rt.stop(name)
    assert rt.state(name) == STOPPED and not os.path.exists(f"/proc/{pid}")
    assert "onestack-init: stopping" in rt.console_tail(name)  # a clean shutdown, not a kill
    new_pid = rt.start(name)
    assert new_pid != pid and rt.state(name) == RUNNING
    assert sh(rt, name, "cat /root/state").stdout == "persisted\n"
    rt.reboot(name, hard=True)
    assert sh(rt, name, "cat /root/state").stdout == "persisted\n"


def test_pause_uses_the_freezer(rt, busybox_lower, tmp_path):
    name = rt.prefix + "a"
    pid = boot(rt, name, [busybox_lower], tmp_path)
    rt.pause(name)
    assert rt.state(name) == FROZEN and cgroups.freezer_state(pid) == "FROZEN"
    rt.unpause(name)
    assert rt.state(name) == RUNNING and cgroups.freezer_state(pid) == "THAWED"
    rt.suspend(name)
    assert rt.is_suspended(name) and rt.state(name) == FROZEN
    rt.resume(name)
    assert not rt.is_suspended(name) and sh(rt, name, "echo alive").stdout == "alive\n"


def test_network_static_address_and_ping(rt, busybox_lower, tmp_path, bridge):
    br, net = bridge
    name = rt.prefix + "a"
    nic = Nic(host_name=f"{rt.prefix}v0", mac="fa:16:3e:00:00:0a", bridge=br)
    boot(rt, name, [busybox_lower], tmp_path, nics=(nic,),
         net=f"eth0 fa:16:3e:00:00:0a static {net}.10/24 {net}.1\n")
    r = sh(rt, name, f"ip -o addr show eth0; cat /sys/class/net/eth0/address; ping -c1 -W2 {net}.1")
    assert f"{net}.10/24" in r.stdout and "fa:16:3e:00:00:0a" in r.stdout and "1 packets received" in r.stdout
    ping = subprocess.run(["busybox", "ping", "-c1", "-W2", f"{net}.10"], capture_output=True, text=True)
    assert ping.returncode == 0
    # the guest end was made in the guest's namespace, not moved in: no copy of it is left on the host
    assert not os.path.exists(f"/sys/class/net/{rt.peer_name(nic)}")
    # a stop ends the namespace and the pair with it (as a VM's tap); a start makes both again, on the
    # bridge, with the same guest MAC, even while the old pair is still going away
    rt.stop(name)
    rt.start(name)
    assert f"master {br}" in subprocess.run(["ip", "link", "show", nic.host_name], capture_output=True,
                                            text=True).stdout
    assert rt.wait_console(name, "onestack-init: ready")
    r = sh(rt, name, "cat /sys/class/net/eth0/address")
    assert r.stdout.strip() == "fa:16:3e:00:00:0a"
    ping = subprocess.run(["busybox", "ping", "-c1", "-W2", f"{net}.10"], capture_output=True, text=True)
    assert ping.returncode == 0


def test_ssh_login_with_the_key_of_the_config_drive(rt, busybox_lower, tmp_path, bridge):
    if not imagebuild.sshd_files() or not shutil.which("ssh"):
        pytest.skip("no dropbear in the test image (apt-get install dropbear-bin) or no ssh client")
    br, net = bridge
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    name = rt.prefix + "a"
    nic = Nic(host_name=f"{rt.prefix}v0", mac="fa:16:3e:00:00:0c", bridge=br)
    boot(rt, name, [busybox_lower], tmp_path, nics=(nic,), key=(tmp_path / "id.pub").read_text(),
         net=f"eth0 fa:16:3e:00:00:0c static {net}.12/24 {net}.1\n")
    assert "sshd: dropbear on port 22" in rt.console_tail(name)
    r = subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", f"root@{net}.12",
                        "set -eu -o pipefail; hostname; id -u"], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == [name, "0"], r.stderr


def test_destroy_leaves_nothing(rt, busybox_lower, tmp_path, bridge):
    name = rt.prefix + "a"
    nic = Nic(host_name=f"{rt.prefix}v0", mac="fa:16:3e:00:00:0b", bridge=bridge[0])
    pid = boot(rt, name, [busybox_lower], tmp_path, nics=(nic,))
    rt.pause(name)  # even a frozen guest goes away completely
    rt.destroy(name)
    assert not os.path.exists(f"/proc/{pid}") and not rt.dir(name).exists()
    assert_nothing_left(rt, tmp_path / "guests")
    rt.destroy(name)  # idempotent


def test_adopt_keeps_known_guests_and_removes_unknown(rt, busybox_lower, tmp_path):
    a, b = rt.prefix + "a", rt.prefix + "b"
    pid_a = boot(rt, a, [busybox_lower], tmp_path)
    boot(rt, b, [busybox_lower], tmp_path)
    restarted = Runtime(rt.path, rt.prefix)  # as after an agent crash: the guests kept running
    kept, removed = restarted.adopt({a})
    assert kept == [a] and removed == [b]
    assert restarted.pid(a) == pid_a and restarted.state(a) == RUNNING
    assert not restarted.dir(b).exists()


def test_resize_applies_limits_and_grows_the_disk(rt, busybox_lower, tmp_path):
    name = rt.prefix + "a"
    boot(rt, name, [busybox_lower], tmp_path, limits=Limits(memory_mb=64), disk_bytes=64 << 20)
    rt.resize(name, Limits(vcpus=2, memory_mb=96, pids_max=100), 64 << 20)
    pid = rt.pid(name)
    assert int((cgroups.guest_dir(pid, "memory") / "memory.limit_in_bytes").read_text()) == 96 << 20
    rt.resize(name, Limits(vcpus=2, memory_mb=96, pids_max=100), 128 << 20)
    assert rt.state(name) == RUNNING
    size_kb = int(sh(rt, name, "df -k / | tail -1").stdout.split()[1])
    assert size_kb > 100 * 1024


def test_console_log_is_live_and_bounded(rt, busybox_lower, tmp_path):
    from onestack.compute.drivers.container.runtime import CONSOLE_LOG_BYTES

    name = rt.prefix + "a"
    boot(rt, name, [busybox_lower], tmp_path)
    sh(rt, name, "echo marker-one > /dev/console")
    assert rt.wait_console(name, "marker-one")  # read from the log LXC is writing, not a copy
    # a chatty guest: the log rotates once instead of growing without bound
    sh(rt, name, f"i=0; while [ $i -lt {CONSOLE_LOG_BYTES // 4096 * 3} ]; do "
                 "printf '%4095s\\n' x > /dev/console; i=$((i+1)); done; echo marker-two > /dev/console")
    assert rt.wait_console(name, "marker-two")
    log = rt.console_log(name)
    assert log.stat().st_size <= CONSOLE_LOG_BYTES
    assert log.with_name("console.log.1").stat().st_size <= CONSOLE_LOG_BYTES
    tail = rt.console_tail(name, 1)
    assert tail.strip() == "marker-two"
    rt.destroy(name)


def test_nic_hot_plug_and_unplug(rt, busybox_lower, tmp_path, bridge):
    br, net = bridge
    name = rt.prefix + "a"
    boot(rt, name, [busybox_lower], tmp_path)
    nic = Nic(host_name=f"{rt.prefix}v1", mac="fa:16:3e:00:00:1c", bridge=br)
    rt.plug_nic(name, nic)  # a running guest without NICs gets eth0, with the port's MAC
    r = sh(rt, name, f"cat /sys/class/net/eth0/address && ip addr add {net}.12/24 dev eth0 && ping -c1 -W2 {net}.1")
    assert "fa:16:3e:00:00:1c" in r.stdout and "1 packets received" in r.stdout, r.stdout + r.stderr
    rt.unplug_nic(name, nic)
    assert not os.path.exists(f"/sys/class/net/{nic.host_name}")
    assert sh(rt, name, "ls /sys/class/net").stdout.split() == ["lo"]
    rt.destroy(name)


def test_nic_hot_plug_into_a_frozen_guest(rt, busybox_lower, tmp_path, bridge):
    """A paused (frozen) guest takes a hot-plugged NIC: the link moves into its namespace without its
    processes running; it is there, with the port's MAC, once the guest is thawed."""
    br, net = bridge
    name = rt.prefix + "f"
    boot(rt, name, [busybox_lower], tmp_path)
    rt.pause(name)
    nic = Nic(host_name=f"{rt.prefix}v2", mac="fa:16:3e:00:00:2c", bridge=br)
    assert rt.plug_nic(name, nic) == "eth0"
    pid = rt.pid(name)
    links = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link", "show", "eth0"],
                           capture_output=True, text=True).stdout
    assert "fa:16:3e:00:00:2c" in links
    assert rt.state(name) == FROZEN
    rt.unpause(name)
    r = sh(rt, name, f"cat /sys/class/net/eth0/address && ip addr add {net}.13/24 dev eth0 && ping -c1 -W2 {net}.1")
    assert "fa:16:3e:00:00:2c" in r.stdout and "1 packets received" in r.stdout, r.stdout + r.stderr
    # another NIC takes the next free name (the spec, which the caller keeps, does not list eth0 here)
    nic2 = Nic(host_name=f"{rt.prefix}v3", mac="fa:16:3e:00:00:3c", bridge=br)
    assert rt.plug_nic(name, nic2) == "eth1"
    rt.unplug_nic(name, nic)
    rt.unplug_nic(name, nic2)
    rt.destroy(name)


def test_run_and_tmp_are_tmpfs_mounted_by_lxc_for_the_onestack_init(rt, busybox_lower, runtime_layer, tmp_path):
    """LXC mounts /run and /tmp (tmpfs) for the onestack init, from the image or the built-in one (the init's
    own two `mount` processes were on its way to DHCP); the init unsets the variable that says so. An image
    whose /sbin/init is something else gets no such mounts."""
    for name, lowers in ((rt.prefix + "i", [runtime_layer, busybox_lower]), (rt.prefix + "b", [runtime_layer])):
        boot(rt, name, lowers, tmp_path)
        config = (rt.dir(name) / "config").read_text().splitlines()
        assert "lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=1777,create=dir 0 0" in config
        assert "lxc.environment = ONESTACK_TMPFS=1" in config
        bb = "/.onestack/busybox"
        r = rt.attach(name, [bb, "sh", "-c", f"{bb} grep -E ' /(run|tmp) ' /proc/mounts | {bb} cut -d' ' -f2,3"])
        assert sorted(r.stdout.split()) == ["/run", "/tmp", "tmpfs", "tmpfs"], (r.stdout, r.stderr)
        # the init's children (started after its unset) do not have the variable (/proc/1/environ is what the
        # init began with; lxc-attach sets lxc.environment too)
        stats = rt.attach(name, [bb, "sh", "-c", f"{bb} cat /proc/[0-9]*/stat"]).stdout.splitlines()
        children = [line.split()[0] for line in stats if line.rsplit(")", 1)[1].split()[1] == "1"]
        assert children, stats
        for pid in children:
            env = rt.attach(name, [bb, "cat", f"/proc/{pid}/environ"]).stdout
            assert "ONESTACK_TMPFS" not in env, (pid, env)
    other = tmp_path / "other-init"
    shutil.copytree(busybox_lower, other, symlinks=True)
    (other / "sbin/init").unlink()
    (other / "sbin/init").write_text("#!/bin/sh\nexec /.onestack/busybox sh /.onestack/init\n")
    (other / "sbin/init").chmod(0o755)
    name = rt.prefix + "o"
    boot(rt, name, [runtime_layer, other], tmp_path)
    config = (rt.dir(name) / "config").read_text()
    assert "ONESTACK_TMPFS" not in config and "tmpfs run" not in config
    r = sh(rt, name, "grep -cE ' /(run|tmp) tmpfs ' /proc/mounts")
    assert r.stdout.strip() == "2", r.stdout  # mounted by the init itself
