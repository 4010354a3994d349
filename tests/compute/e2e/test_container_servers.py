"""The all-in-one default, for real: ``onestack up`` as root (container guest driver, linux network data
plane) driven by the real ``openstack`` CLI. A server boots from the bootstrap's ``busybox`` image on
``private`` with a key pair, gets its address by DHCP, shows its boot on the (live) console, reaches a
second server by ping and the host through a floating IP, survives stop/start/reboot/pause/suspend,
is snapshotted, rebuilt from the snapshot and resized; deleting everything leaves no container, mount,
loop device, cgroup, veth, namespace, nftables table or dnsmasq behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from onestack.compute.agent import container_prefix, container_state_dir
from onestack.compute.drivers.container import cgroups
from onestack.compute.drivers.container.overlay import mounts_below
from onestack.compute.drivers.container.runtime import Runtime
from onestack.core import config
from onestack.core.testing.process import ServerProcess, onestack_executable
from onestack.network.agent import kernel_prefix
from onestack.network.views.ports import devname
from tests.e2e.conftest import Cli

from .support import free_cidrs, sh, take_down_bootstrap_network, wait_for

pytestmark = [pytest.mark.backend, pytest.mark.e2e]

TRANSITIONAL = ("BUILD", "REBOOT", "HARD_REBOOT")


class World:
    def __init__(self, base: Path, blocks: tuple[int, int] = (219, 218)) -> None:
        self.data = base / "data"
        settings = config.load(env={}, data_dir=str(self.data))
        self.net_prefix = kernel_prefix(settings)
        self.prefix = container_prefix(settings)
        self.guests = Path(container_state_dir(settings)) / "guests"
        public, private = free_cidrs(*blocks)  # each module that starts a cloud has blocks of its own
        self.server = ServerProcess(self.data, log_path=base / "server.log", env={
            "ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", "ONESTACK_COMPUTE_DRIVER": "container",
            "ONESTACK_NETWORK_DRIVER": "linux", "ONESTACK_NETWORK_PUBLIC_CIDR": public,
            "ONESTACK_NETWORK_PRIVATE_CIDR": private})

    def container(self, server_id: str) -> str:
        return self.prefix + server_id

    def guest_sh(self, server_id: str, script: str) -> subprocess.CompletedProcess:
        return sh("lxc-attach", "-P", str(self.guests), "-n", self.container(server_id), "--clear-env", "--",
                  "/bin/sh", "-c", "PATH=/sbin:/bin:/usr/sbin:/usr/bin; " + script)

    def guest_ip(self, server_id: str) -> str:
        out = self.guest_sh(server_id, "ip -4 -o addr show dev eth0").stdout.split()
        return out[out.index("inet") + 1].split("/")[0] if "inet" in out else ""

    # -- what the cloud leaves in the kernel ----------------------------------------------------------

    def kernel_leftovers(self) -> list[str]:
        left = []
        p = self.net_prefix
        for line in sh("ip", "-o", "link").stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(p):
                left.append(f"link {name}")
        left += [f"netns {ns}" for ns in sh("ip", "netns", "list").stdout.split() if ns.startswith(p)]
        left += [f"nft {t}" for t in sh("nft", "list", "tables").stdout.splitlines() if f" {p}_" in t]
        left += [f"chain {c}" for c in sh("iptables-save", "-t", "filter").stdout.splitlines()
                 if c.startswith(f":{p}-")]
        return left

    def guest_leftovers(self) -> list[str]:
        left = []
        if self.guests.exists():
            left += [f"guest {d.name}" for d in self.guests.iterdir()]
            left += [f"mount {m}" for m in mounts_below(self.guests)]
        left += [f"cgroup {c}" for c in cgroups.find_prefixed(self.prefix)]
        left += [f"loop {line}" for line in sh("losetup", "-a").stdout.splitlines() if str(self.data) in line]
        left += [f"process {a}" for a in sh("ps", "-eo", "args").stdout.splitlines()
                 if self.prefix in a or (str(self.data) in a and "dnsmasq" in a)]
        return left

    def stop(self) -> list[str]:
        """Stop the cloud; what it left in the kernel or the guest directory (removed now, for the test to fail)."""
        self.server.stop(timeout=30)
        left = self.guest_leftovers() + self.kernel_leftovers()
        if left:
            self.force_cleanup()
        return left

    def force_cleanup(self) -> None:
        """After a failure: remove what the cloud could not (the test still fails)."""
        if self.guests.exists():
            rt = Runtime(self.guests, self.prefix)
            for name in rt.names():
                rt.destroy(name)
        for mp in mounts_below(self.data):  # e.g. the image cache's loop-mounted raw images
            sh("umount", "-l", mp)
        p = self.net_prefix
        for ns in sh("ip", "netns", "list").stdout.split():
            if ns.startswith(p):
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
        for a in sh("ps", "-eo", "pid,args").stdout.splitlines():
            if "dnsmasq" in a and str(self.data) in a:
                sh("kill", a.split()[0])


@pytest.fixture
def world(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (containers, namespaces)")
    for tool in ("lxc-start", "busybox", "dnsmasq"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make install apt-installs it)")
    w = World(tmp_path)
    w.server.start(timeout=120)
    try:
        yield w
    finally:
        left = w.stop()
        assert not left, f"left behind: {left}\n{w.server.log_tail()}"


def connect(clouds_yaml: Path, cloud: str):
    """openstacksdk on the same clouds.yaml: cheap status polling between the CLI's actions."""
    import openstack.config
    import openstack.connection

    return openstack.connection.Connection(
        config=openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud))


def settle(conn, server_id: str, timeout: float = 60.0) -> str:
    def done():
        server = conn.compute.get_server(server_id)
        return server.status not in TRANSITIONAL and server.task_state is None and server.status
    return wait_for(done, timeout, f"{server_id} to settle")


def test_boot_busybox_on_private_console_actions_ping_delete(world):
    demo = Cli(world.server.clouds_yaml, "onestack-demo")
    admin = Cli(world.server.clouds_yaml, "onestack")
    conn = connect(world.server.clouds_yaml, "onestack-demo")
    assert any(i["Name"] == "busybox" for i in demo("image", "list"))

    demo.run("keypair", "create", "--private-key", str(world.data.parent / "k.pem"), "k")
    started = time.monotonic()
    vm1 = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--network", "private",
               "--key-name", "k", "--wait", "vm1")
    assert vm1["status"] == "ACTIVE", vm1
    assert time.monotonic() - started < 60
    vm2 = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--network", "private", "--wait",
               "vm2")
    assert vm2["status"] == "ACTIVE", vm2

    # the console shows the boot; the guests got the addresses the API assigned, by DHCP
    console = demo.run("console", "log", "show", "vm1").stdout
    assert "onestack-init: hostname vm1" in console and "onestack-init: ready" in console, console
    addresses = {}
    for server in (vm1, vm2):
        shown = demo("server", "show", server["id"])
        (ip,) = shown["addresses"]["private"]
        addresses[server["id"]] = ip
        wait_for(lambda s=server, ip=ip: world.guest_ip(s["id"]) == ip, 30, f"DHCP lease {ip}")
    port = admin("port", "list", "--server", vm1["id"], "--long")[0]
    mac = world.guest_sh(vm1["id"], "cat /sys/class/net/eth0/address").stdout.strip()
    assert mac == port["MAC Address"]
    assert world.guest_sh(vm1["id"], "hostname").stdout.strip() == "vm1"
    assert "ssh key installed" in console
    assert world.guest_sh(vm1["id"], "cat /root/.ssh/authorized_keys").stdout.startswith(("ssh-", "ecdsa-"))

    # two servers on one network reach each other
    ping = world.guest_sh(vm1["id"], f"ping -c 2 -W 2 {addresses[vm2['id']]}")
    assert ping.returncode == 0, ping.stdout + ping.stderr

    # a floating IP makes vm1 reachable from the host (through router1's DNAT, once ICMP is allowed in)
    demo.ok("security", "group", "rule", "create", "--protocol", "icmp", "--ingress", "default")
    fip = demo("floating", "ip", "create", "public")["floating_ip_address"]
    demo.ok("server", "add", "floating", "ip", "vm1", fip)
    wait_for(lambda: sh("busybox", "ping", "-c", "1", "-W", "1", fip).returncode == 0, 60, f"ping {fip} from the host")

    # lifecycle: the guest's processes stop and come back from the same root filesystem
    world.guest_sh(vm1["id"], "echo kept > /root/marker")
    demo.ok("server", "stop", "vm1")
    assert settle(conn, vm1["id"]) == "SHUTOFF"
    assert sh("lxc-info", "-P", str(world.guests), "-n", world.container(vm1["id"]), "-s", "-H").stdout.strip() \
        == "STOPPED"
    demo.ok("server", "start", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    assert world.guest_sh(vm1["id"], "cat /root/marker").stdout.strip() == "kept"
    demo.ok("server", "reboot", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    demo.ok("server", "reboot", "--hard", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    demo.ok("server", "pause", "vm1")
    assert settle(conn, vm1["id"]) == "PAUSED"
    assert sh("lxc-info", "-P", str(world.guests), "-n", world.container(vm1["id"]), "-s", "-H").stdout.strip() \
        == "FROZEN"
    demo.ok("server", "unpause", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    demo.ok("server", "suspend", "vm1")
    assert settle(conn, vm1["id"]) == "SUSPENDED"
    demo.ok("server", "resume", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    # the console log is the live one: the reboots above show as further boots of the init
    console = demo.run("console", "log", "show", "vm1").stdout
    assert console.count("onestack-init: starting") >= 4, console
    # after the restarts the guest is back on its network with its address (the veth was re-created)
    wait_for(lambda: world.guest_ip(vm1["id"]) == addresses[vm1["id"]], 30, "DHCP after reboot")
    ping = wait_for(lambda: (r := world.guest_sh(vm2["id"], f"ping -c 1 -W 1 {addresses[vm1['id']]}"))
                    .returncode == 0 and r, 30, "vm2 -> vm1 after reboot")
    assert "1 packets received" in ping.stdout

    # image create (a tarball of the root filesystem), rebuild from it, resize
    demo.ok("server", "image", "create", "--name", "vm1-snap", "vm1")  # (--wait's long-lived connection
    wait_for(lambda: demo("image", "show", "vm1-snap")["status"] == "active", 120, "the snapshot")  # can be reset)
    demo.ok("server", "rebuild", "--image", "vm1-snap", "--wait", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    assert world.guest_sh(vm1["id"], "cat /root/marker").stdout.strip() == "kept"  # the snapshot had it
    world.guest_sh(vm1["id"], "echo since-rebuild > /root/marker2")
    kept = world.guests / world.container(vm1["id"]) / "disk.pre-resize.img"
    # a revert goes back to the disk as it was at the resize (as Nova's: the source disk), under the old flavor
    demo.ok("server", "resize", "--flavor", "m1.nano", "--wait", "vm1")
    assert settle(conn, vm1["id"]) == "VERIFY_RESIZE" and kept.exists()
    world.guest_sh(vm1["id"], "echo since-resize > /root/marker3")
    demo.ok("server", "resize", "revert", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    assert "c1.tiny" in str(demo("server", "show", "vm1")["flavor"])
    after = world.guest_sh(vm1["id"], "cat /root/marker2; ls /root").stdout.split()
    assert after[0] == "since-rebuild" and "marker3" not in after, after
    assert not kept.exists()
    demo.ok("server", "resize", "--flavor", "m1.nano", "--wait", "vm1")
    assert settle(conn, vm1["id"]) == "VERIFY_RESIZE"
    demo.ok("server", "resize", "confirm", "vm1")
    assert settle(conn, vm1["id"]) == "ACTIVE"
    wait_for(lambda: not kept.exists(), 30, "the kept disk dropped at the confirm")
    assert "m1.nano" in str(demo("server", "show", "vm1")["flavor"])
    assert world.guest_sh(vm1["id"], "cat /root/marker2").stdout.strip() == "since-rebuild"  # the disk came along
    wait_for(lambda: sh("busybox", "ping", "-c", "1", "-W", "1", fip).returncode == 0, 60, f"ping {fip} after resize")
    demo.ok("server", "remove", "floating", "ip", "vm1", fip)
    demo.ok("floating", "ip", "delete", fip)
    demo.ok("image", "delete", "vm1-snap")

    # delete: the guests, their disks, cgroups and veths are gone
    demo.ok("server", "delete", "--wait", "vm1", "vm2")
    assert not [s for s in demo("server", "list") if s["Name"] in ("vm1", "vm2")]
    # the host's image cache keeps images for reuse (the snapshot is loop-mounted there): prune it
    pruned = sh(onestack_executable(), "admin", "image-cache", "prune", "--max-age", "0", "--data-dir", str(world.data))
    assert "removed" in pruned.stdout, pruned.stdout + pruned.stderr
    assert not world.guest_leftovers(), world.guest_leftovers()
    links = sh("ip", "-o", "link").stdout
    assert devname(port["ID"], world.net_prefix) not in links

    # take down the bootstrap topology so the network agent removes its kernel objects
    take_down_bootstrap_network(admin, world.kernel_leftovers)


def test_attach_port_of_second_network_passes_traffic_then_detach(world):
    """os-interface on a real container: ``server add network`` hot-plugs a second NIC (a veth named with the
    cloud's kernel prefix) into the running guest, which gets the port's address by DHCP and reaches the
    network's DHCP server over it; ``server remove network`` takes the NIC out again and deletes the port.
    The same on a paused server: the NIC is in the guest's namespace at once, configured after unpause; and on
    a stopped one: the NIC is there and configured after start."""
    demo = Cli(world.server.clouds_yaml, "onestack-demo")
    admin = Cli(world.server.clouds_yaml, "onestack")
    _, cidr = free_cidrs(215, 214)
    net2 = demo("network", "create", "net2")
    demo.ok("subnet", "create", "--network", "net2", "--subnet-range", cidr, "--gateway", "none", "net2-subnet")
    vm = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--network", "private", "--wait",
              "vm1")
    assert vm["status"] == "ACTIVE", vm
    (ip1,) = demo("server", "show", "vm1")["addresses"]["private"]
    wait_for(lambda: world.guest_ip(vm["id"]) == ip1, 30, f"DHCP lease {ip1}")
    dhcp_port = wait_for(lambda: admin("port", "list", "--network", net2["id"], "--device-owner", "network:dhcp"),
                         30, "net2's DHCP port")[0]
    dhcp_ip = admin("port", "show", dhcp_port["ID"])["fixed_ips"][0]["ip_address"]
    assert world.guest_sh(vm["id"], f"ping -c 1 -W 1 {dhcp_ip}").returncode != 0  # no way there yet

    demo.ok("server", "add", "network", "vm1", "net2")
    (port,) = [p for p in demo("port", "list", "--server", "vm1", "--long") if p["ID"] != dhcp_port["ID"]
               and net2["id"] in str(admin("port", "show", p["ID"])["network_id"])]
    (ip2,) = demo("server", "show", "vm1")["addresses"]["net2"]
    host_end = devname(port["ID"], world.net_prefix)
    assert host_end in sh("ip", "-o", "link").stdout
    assert world.guest_sh(vm["id"], "cat /sys/class/net/eth1/address").stdout.strip() == port["MAC Address"]
    wait_for(lambda: f"inet {ip2}/" in world.guest_sh(vm["id"], "ip -4 -o addr show dev eth1").stdout, 30,
             f"DHCP lease {ip2} on eth1")
    ping = wait_for(lambda: (r := world.guest_sh(vm["id"], f"ping -c 1 -W 1 -I eth1 {dhcp_ip}")).returncode == 0
                    and r, 30, f"ping {dhcp_ip} over eth1")
    assert "1 packets received" in ping.stdout
    events = [e["Action"] for e in demo("server", "event", "list", "vm1")]
    assert "attach_interface" in events

    demo.ok("server", "remove", "network", "vm1", "net2")
    wait_for(lambda: len(demo("port", "list", "--server", "vm1")) == 1, 30, "the port to be detached")
    assert "eth1" not in world.guest_sh(vm["id"], "ls /sys/class/net").stdout
    assert host_end not in sh("ip", "-o", "link").stdout
    assert world.guest_sh(vm["id"], f"ping -c 1 -W 1 {dhcp_ip}").returncode != 0
    assert "net2" not in demo("server", "show", "vm1")["addresses"]
    assert admin.run("port", "show", port["ID"], check=False).returncode != 0  # compute made it: deleted
    assert world.guest_sh(vm["id"], "ip -4 -o addr show dev eth0").stdout.count(ip1) == 1  # eth0 untouched

    # paused (a frozen cgroup): the NIC moves into the guest's namespace now, its DHCP runs after unpause
    demo.ok("server", "pause", "vm1")
    wait_for(lambda: demo("server", "show", "vm1")["status"] == "PAUSED", 30, "PAUSED")
    demo.ok("server", "add", "network", "vm1", "net2")
    (ip3,) = demo("server", "show", "vm1")["addresses"]["net2"]
    (port3,) = [p for p in demo("port", "list", "--server", "vm1", "--long") if p["ID"] != port["ID"]
                and net2["id"] in str(admin("port", "show", p["ID"])["network_id"])]
    pid = Runtime(world.guests, world.prefix).pid(world.container(vm["id"]))
    links = sh("nsenter", "-t", str(pid), "-n", "ip", "-o", "link").stdout
    assert port3["MAC Address"] in links, links
    assert demo("server", "show", "vm1")["status"] == "PAUSED"
    demo.ok("server", "unpause", "vm1")
    wait_for(lambda: f"inet {ip3}/" in world.guest_sh(vm["id"], "ip -4 -o addr").stdout, 30,
             f"DHCP lease {ip3} after unpause")
    demo.ok("server", "pause", "vm1")
    wait_for(lambda: demo("server", "show", "vm1")["status"] == "PAUSED", 30, "PAUSED")
    demo.ok("server", "remove", "network", "vm1", "net2")  # detach while paused too
    wait_for(lambda: len(demo("port", "list", "--server", "vm1")) == 1, 30, "the port to be detached")
    assert port3["MAC Address"] not in sh("nsenter", "-t", str(pid), "-n", "ip", "-o", "link").stdout
    demo.ok("server", "unpause", "vm1")

    # stopped: the NIC is made at the next start, and the guest's init configures it from the config drive
    demo.ok("server", "stop", "vm1")
    wait_for(lambda: demo("server", "show", "vm1")["status"] == "SHUTOFF", 60, "SHUTOFF")
    demo.ok("server", "add", "network", "vm1", "net2")
    (ip4,) = demo("server", "show", "vm1")["addresses"]["net2"]
    demo.ok("server", "start", "vm1")
    wait_for(lambda: demo("server", "show", "vm1")["status"] == "ACTIVE", 60, "ACTIVE")
    wait_for(lambda: f"inet {ip4}/" in world.guest_sh(vm["id"], "ip -4 -o addr").stdout, 30,
             f"DHCP lease {ip4} after start")
    wait_for(lambda: f"inet {ip1}/" in world.guest_sh(vm["id"], "ip -4 -o addr show dev eth0").stdout, 30,
             f"DHCP lease {ip1} on eth0 after start")

    demo.ok("server", "delete", "--wait", "vm1")
    demo.ok("network", "delete", "net2")
    take_down_bootstrap_network(admin, world.kernel_leftovers)


def test_an_address_reused_by_a_new_server_answers_the_router_at_once(world):
    """A deleted server's address given to a new one: the router's neighbour cache still holds the old MAC as
    REACHABLE (for up to ~30 s); the guest init announces its address (gratuitous ARP) so the router answers
    the new guest at once."""
    demo = Cli(world.server.clouds_yaml, "onestack-demo")
    admin = Cli(world.server.clouds_yaml, "onestack")
    router_ns = f"{world.net_prefix}-r-{admin('router', 'show', 'router1')['id']}"
    private = demo("network", "show", "private")["id"]
    demo.ok("security", "group", "rule", "create", "--protocol", "icmp", "--ingress", "default")

    def router_ping(ip: str) -> bool:
        return sh("ip", "netns", "exec", router_ns, "ping", "-c", "1", "-W", "1", ip).returncode == 0

    old = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--network", "private", "--wait",
               "old")
    (ip,) = demo("server", "show", "old")["addresses"]["private"]
    wait_for(lambda: router_ping(ip), 30, f"the router to reach {ip}")  # its neighbour entry: old's MAC
    demo.ok("server", "delete", "--wait", "old")
    new = demo("server", "create", "--image", "busybox", "--flavor", "c1.tiny", "--nic",
               f"net-id={private},v4-fixed-ip={ip}", "--wait", "new")
    assert new["id"] != old["id"]
    wait_for(lambda: world.guest_ip(new["id"]) == ip, 30, f"DHCP lease {ip}")
    wait_for(lambda: router_ping(ip), 5, f"the router to reach the new server at {ip}")

    demo.ok("server", "delete", "--wait", "new")
    take_down_bootstrap_network(admin, world.kernel_leftovers)
