"""The QEMU driver behind the real API: ``onestack up`` as root with ``[compute] driver = qemu`` (TCG)
and the linux network data plane, driven by the ``openstack`` CLI.  Two ``busybox-vm`` servers on
``private`` get their addresses by DHCP, reach each other, answer ping from the network's DHCP
namespace, and go through stop/start/reboot/pause/suspend/resize/image create/rebuild/delete;
nothing is left behind.  Deadlines are generous: guests boot under TCG on a loaded machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onestack.compute.agent import container_prefix, container_state_dir
from onestack.core import config
from onestack.core.testing.process import ServerProcess
from onestack.network.agent import kernel_prefix
from onestack.network.views.ports import devname
from tests.e2e.conftest import Cli

from .support import free_cidrs, sh, take_down_bootstrap_network, wait_for

pytestmark = [pytest.mark.backend, pytest.mark.e2e]

BOOT = 240.0
PING = ["ping"] if shutil.which("ping") else ["busybox", "ping"]
TRANSITIONAL = ("BUILD", "REBOOT", "HARD_REBOOT", "RESIZE")


def connect(clouds_yaml: Path, cloud: str):
    """openstacksdk on the same clouds.yaml: cheap status polling between the CLI's actions."""
    import openstack.config
    import openstack.connection

    return openstack.connection.Connection(
        config=openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud))


def settle(conn, server_id: str, timeout: float = 120.0) -> str:
    def done():
        server = conn.compute.get_server(server_id)
        return server.status not in TRANSITIONAL and server.task_state is None and server.status
    return wait_for(done, timeout, f"{server_id} to settle", 0.5)


class QemuWorld:
    def __init__(self, base: Path) -> None:
        self.data = base / "data"
        settings = config.load(env={}, data_dir=str(self.data))
        self.prefix = container_prefix(settings)
        self.net_prefix = kernel_prefix(settings)
        self.guests = Path(container_state_dir(settings)) / "qemu" / "guests"
        public, private = free_cidrs(217, 216)
        self.env = {"ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", "ONESTACK_COMPUTE_DRIVER": "qemu",
                    "ONESTACK_COMPUTE_QEMU_ACCEL": "tcg", "ONESTACK_NETWORK_DRIVER": "linux",
                    "ONESTACK_NETWORK_PUBLIC_CIDR": public, "ONESTACK_NETWORK_PRIVATE_CIDR": private}
        self.server = ServerProcess(self.data, log_path=base / "server.log", env=self.env)

    def build_image(self) -> None:
        # the kernel .deb the driver tests fetched, so the image build does not download it again
        cached = Path(os.environ.get("ONESTACK_TEST_CACHE") or Path.home() / ".cache" / "onestack-test")
        debs = self.data / "compute" / "test-images" / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for deb in (cached / "busybox-vm" / "debs").glob("*.deb"):
            shutil.copy(deb, debs / deb.name)
        r = subprocess.run([sys.executable, "-m", "onestack.cli", "image", "build", "busybox-vm", "--data-dir",
                            str(self.data)], capture_output=True, text=True, timeout=600,
                           env={**os.environ, **self.env})
        assert r.returncode == 0, r.stdout + r.stderr

    def leftovers(self) -> list[str]:
        left = [f"guest {d.name}" for d in self.guests.iterdir()] if self.guests.exists() else []
        left += [f"process {a}" for a in sh("ps", "-eww", "-o", "args").stdout.splitlines()
                 if "qemu-system" in a and self.prefix in a]
        return left

    def kernel_leftovers(self) -> list[str]:
        p = self.net_prefix
        left = [f"netns {ns}" for ns in sh("ip", "netns", "list").stdout.split() if ns.startswith(f"{p}-")]
        for line in sh("ip", "-o", "link").stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(p):
                left.append(f"link {name}")
        left += [f"nft {t}" for t in sh("nft", "list", "tables").stdout.splitlines() if f" {p}_" in t]
        return left

    def force_cleanup(self) -> None:
        """After a failure: remove what the cloud could not (the test still fails)."""
        for a in sh("ps", "-eww", "-o", "pid,args").stdout.splitlines():
            if ("qemu-system" in a and self.prefix in a) or ("dnsmasq" in a and str(self.data) in a):
                sh("kill", "-9", a.split()[0])
        p = self.net_prefix
        for ns in sh("ip", "netns", "list").stdout.split():
            if ns.startswith(f"{p}-"):
                sh("ip", "netns", "del", ns)
        for line in sh("ip", "-o", "link").stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(p):
                sh("ip", "link", "del", name)
        for t in sh("nft", "list", "tables").stdout.splitlines():
            if f" {p}_" in t:
                sh("nft", "delete", "table", *t.split()[1:3])
        for tool in ("iptables", "ip6tables"):
            chains = [c[1:].split()[0] for c in sh(f"{tool}-save", "-t", "filter").stdout.splitlines()
                      if c.startswith(f":{p}-")]
            sh(tool, "-D", "FORWARD", "-j", f"{p}-FWD")
            for verb in ("-F", "-X"):
                for chain in chains:
                    sh(tool, verb, chain)

    def dhcp_ping(self, network_id: str, ip: str) -> bool:
        """Ping from the network's DHCP namespace (the host's side of the tenant network)."""
        ns = next((n for n in sh("ip", "netns", "list").stdout.split() if n.endswith(f"-dhcp-{network_id}")), None)
        return ns is not None and sh("ip", "netns", "exec", ns, *PING, "-c1", "-W1", ip).returncode == 0


@pytest.fixture
def qworld(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for tool in ("qemu-system-x86_64", "qemu-img", "genisoimage", "busybox", "dnsmasq", "dpkg-deb"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make install apt-installs it)")
    w = QemuWorld(tmp_path)
    w.build_image()
    w.server.start(timeout=120)
    try:
        yield w
    finally:
        w.server.stop(timeout=30)
        left = w.leftovers() + w.kernel_leftovers()
        if left:
            w.force_cleanup()
        assert not left, f"left behind: {left}\n{w.server.log_tail()}"


def console(qworld: QemuWorld, server_id: str) -> str:
    """The guest's serial console log as the driver writes it (the API's copy is taken at action ends)."""
    try:
        return (qworld.guests / server_id / "console.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def test_qemu_servers_boot_reach_each_other_and_go_through_actions(qworld):
    demo = Cli(qworld.server.clouds_yaml, "onestack-demo")
    conn = connect(qworld.server.clouds_yaml, "onestack-demo")
    net = demo("network", "show", "private")
    # the default group admits only its members; let the host's side of the network ping (as devstack users do)
    demo("security", "group", "rule", "create", "--protocol", "icmp", "default")

    watch = Path(qworld.data) / "watch.sh"  # tells the console when a hot-plugged volume or NIC appears (or goes)
    watch.write_text("#!/bin/sh\n(while [ ! -b /dev/vdc ]; do sleep 0.5; done; echo VDC-SEEN) &\n"
                     "while [ ! -e /sys/class/net/eth1 ]; do sleep 0.5; done; echo ETH1-SEEN\n"
                     "udhcpc -n -q -T 1 -t 60 -i eth1 -s /sbin/onestack-init >/dev/null 2>&1\n"
                     "while [ -e /sys/class/net/eth1 ]; do sleep 0.5; done; echo ETH1-GONE\n")
    vm1 = demo("server", "create", "--image", "busybox-vm", "--flavor", "m1.nano", "--network", "private",
               "--user-data", str(watch), "--wait", "vm1")
    assert vm1["status"] == "ACTIVE", vm1
    (ip1,) = demo("server", "show", "vm1")["addresses"]["private"]
    wait_for(lambda: f"onestack-init: dhcp eth0 {ip1}/" in console(qworld, vm1["id"]), BOOT, "vm1's DHCP lease", 1)
    assert "onestack-init: hostname vm1" in console(qworld, vm1["id"])
    wait_for(lambda: qworld.dhcp_ping(net["id"], ip1), 60, "vm1 to answer ping", 0.5)

    probe = f"#!/bin/sh\nfor i in $(seq 120); do ping -c1 -W1 {ip1} >/dev/null 2>&1 && " \
            "{ echo PEER-OK; exit 0; }; sleep 1; done; echo PEER-FAIL\n"
    ud = Path(qworld.data) / "probe.sh"
    ud.write_text(probe)
    vm2 = demo("server", "create", "--image", "busybox-vm", "--flavor", "m1.nano", "--network", "private",
               "--user-data", str(ud), "--wait", "vm2")
    assert vm2["status"] == "ACTIVE", vm2
    out = wait_for(lambda: (c := console(qworld, vm2["id"])) and "PEER-" in c and c, BOOT, "vm2 to ping vm1", 1)
    assert "PEER-OK" in out, out

    demo.ok("server", "stop", "vm1")
    assert settle(conn, vm1["id"]) == "SHUTOFF"
    demo.ok("server", "start", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    assert "onestack-init: hostname vm1" in demo.run("console", "log", "show", "vm1").stdout  # the first boot
    demo.ok("server", "reboot", "--hard", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    demo.ok("server", "pause", "vm1")
    assert settle(conn, vm1["id"]) == "PAUSED"
    demo.ok("server", "unpause", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    demo.ok("server", "suspend", "vm1")
    assert settle(conn, vm1["id"]) == "SUSPENDED"
    demo.ok("server", "resume", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    # after a power cycle and a reset the guest is back on its network
    wait_for(lambda: qworld.dhcp_ping(net["id"], ip1), BOOT, "vm1 to answer ping after the restarts", 1)

    # a volume hot-plugged through os-volume_attachments reaches the guest, and comes back out
    demo.ok("volume", "create", "--size", "1", "vol1")
    wait_for(lambda: demo("volume", "show", "vol1")["status"] == "available", 60, "vol1 available", 0.5)
    demo.ok("server", "add", "volume", "vm1", "vol1")
    wait_for(lambda: demo("volume", "show", "vol1")["status"] == "in-use", 120, "vol1 in-use", 0.5)
    wait_for(lambda: "VDC-SEEN" in console(qworld, vm1["id"]), 60, "the guest to see the volume", 0.5)
    demo.ok("server", "remove", "volume", "vm1", "vol1")
    wait_for(lambda: demo("volume", "show", "vol1")["status"] == "available", 120, "vol1 detached", 0.5)
    assert "volume-" not in (qworld.guests / vm1["id"] / "spec.json").read_text()
    demo.ok("volume", "delete", "vol1")

    # a port of a second network hot-plugged through os-interface appears in the running guest (the watcher
    # gets it a lease and the network reaches it), and goes again; the user's port is unbound, not deleted
    _, cidr2 = free_cidrs(213, 212)
    net2 = demo("network", "create", "net2")
    demo.ok("subnet", "create", "--network", "net2", "--subnet-range", cidr2, "--gateway", "none", "net2-subnet")
    hot = demo("port", "create", "--network", "net2", "hotport")
    demo.ok("server", "add", "port", "vm1", "hotport")
    (ip_hot,) = demo("server", "show", "vm1")["addresses"]["net2"]
    wait_for(lambda: "ETH1-SEEN" in console(qworld, vm1["id"]), 60, "the guest to see the NIC", 0.5)
    wait_for(lambda: f"onestack-init: dhcp eth1 {ip_hot}/" in console(qworld, vm1["id"]), 60, "eth1's lease", 0.5)
    wait_for(lambda: qworld.dhcp_ping(net2["id"], ip_hot), 60, "the hot-plugged NIC to answer ping", 0.5)
    demo.ok("server", "remove", "port", "vm1", "hotport")
    wait_for(lambda: "ETH1-GONE" in console(qworld, vm1["id"]), 60, "the guest to lose the NIC", 0.5)
    wait_for(lambda: not demo("port", "show", "hotport")["device_id"], 60, "hotport unbound", 0.5)
    assert hot["id"] not in (qworld.guests / vm1["id"] / "spec.json").read_text()
    demo.ok("port", "delete", "hotport")
    demo.ok("network", "delete", "net2")

    demo.ok("server", "reboot", "vm1")  # soft: ACPI power button, then a new start
    assert settle(conn, vm1["id"], BOOT) == "ACTIVE"

    demo.ok("server", "image", "create", "--name", "vm1-snap", "--wait", "vm1")
    snap = demo("image", "show", "vm1-snap")
    assert snap["status"] == "active" and snap["disk_format"] == "qcow2"  # the written clusters only

    demo.ok("server", "resize", "--flavor", "m1.tiny", "vm2")
    assert settle(conn, vm2["id"], BOOT) == "VERIFY_RESIZE"
    demo.ok("server", "resize", "confirm", "vm2")
    assert settle(conn, vm2["id"]) == "ACTIVE"
    flavor = demo("server", "show", "vm2")["flavor"]
    assert (flavor.get("original_name") if isinstance(flavor, dict) else flavor).startswith("m1.tiny"), flavor
    spec = (qworld.guests / vm2["id"] / "spec.json").read_text()
    assert '"memory_mb": 512' in spec

    demo.ok("server", "rebuild", "--image", "vm1-snap", "--wait", "vm2")
    assert settle(conn, vm2["id"], BOOT) == "ACTIVE"
    wait_for(lambda: "onestack-init: ready" in console(qworld, vm2["id"]), BOOT, "vm2 to boot from the snapshot", 1)

    taps = [devname(p["ID"], qworld.net_prefix) for vm in (vm1, vm2)
            for p in demo("port", "list", "--server", vm["id"])]
    assert len(taps) == 2
    demo.ok("server", "delete", "--wait", "vm1", "vm2")
    assert not qworld.leftovers(), qworld.leftovers()
    links = sh("ip", "-o", "link").stdout
    assert not [t for t in taps if t in links]

    # take down the bootstrap topology so the network agent removes its kernel objects
    admin = Cli(qworld.server.clouds_yaml, "onestack")
    take_down_bootstrap_network(admin, qworld.kernel_leftovers, 120, 0.5)
