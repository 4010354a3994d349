"""The real data plane, with real packets between namespaces ("guests") on this kernel.

Two agents, each in its own network namespace ("host A" runs DHCP and routers, "host B" only L2),
joined by a veth underlay; VXLAN carries tenant traffic between them.  Host A's namespace also plays
the external world: the external network's gateway address sits on its bridge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from onestack.core.testing.client import login, make_settings
from onestack.network.agent import NetworkAgent, build_agent
from onestack.network.drivers.linux import LinuxNetworkDriver
from onestack.network.views.ports import devname
from onestack.testing import running_cloud

from .contract import NetworkDriverContract

pytestmark = pytest.mark.backend

TOOLS = ("ip", "dnsmasq", "iptables", "nft", "udhcpc", "conntrack")
if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS):
    pytest.skip("needs root and " + ", ".join(TOOLS), allow_module_level=True)

N = "/network/v2.0"
PY = sys.executable

SERVER = textwrap.dedent("""
    import socket, sys, threading
    def serve(port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(16)
        while True:
            c, addr = s.accept(); c.sendall((addr[0] + "\\n").encode()); c.close()
    for p in sys.argv[1:]:
        threading.Thread(target=serve, args=(int(p),), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
""")
CLIENT = textwrap.dedent("""
    import socket, sys
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(s.recv(100).decode().strip())
""")
UDHCPC_SCRIPT = textwrap.dedent("""\
    #!/bin/sh
    case "$1" in
      bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        echo "$ip" > "$LEASE_FILE";;
    esac
""")


def sh(*cmd: str, ns: str | None = None, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(full)}: {proc.returncode} {proc.stderr}")
    return proc


RESOLVE = textwrap.dedent("""
    # one DNS query for an A record; prints the addresses answered
    import random, socket, struct, sys
    server, name = sys.argv[1], sys.argv[2]
    query = struct.pack("!HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\\0" + struct.pack("!HH", 1, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.sendto(query, (server, 53))
    reply = sock.recv(512)
    count, pos = struct.unpack_from("!H", reply, 6)[0], len(query)
    for _ in range(count):
        pos += 2  # the name: a pointer to the question's
        kind, _, _, length = struct.unpack_from("!HHIH", reply, pos)
        pos += 10
        if kind == 1:
            print(socket.inet_ntoa(reply[pos:pos + length]))
        pos += length
""")


def resolve(ns: str, server: str, name: str) -> list[str]:
    return sh(sys.executable, "-c", RESOLVE, server, name, ns=ns).stdout.split()


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def tcp(ns: str, host: str, port: int, timeout: float = 3.0) -> str | None:
    proc = sh(PY, "-c", CLIENT, host, str(port), str(timeout), ns=ns, check=False, timeout=timeout + 10)
    return proc.stdout.strip() if proc.returncode == 0 else None


class MetadataEcho(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"path": self.path, **{k: v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def world(tmp_path):
    p = "t" + uuid.uuid4().hex[:3]
    host_a, host_b = f"{p}-hostA", f"{p}-hostB"
    created_ns: list[str] = []
    procs: list[subprocess.Popen] = []
    for ns in (host_a, host_b):
        sh("ip", "netns", "add", ns)
        created_ns.append(ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", "ul", "netns", host_a, "type", "veth", "peer", "name", "ul", "netns", host_b)
    for ns, ip in ((host_a, "192.168.213.1/24"), (host_b, "192.168.213.2/24")):
        sh("ip", "addr", "add", ip, "dev", "ul", ns=ns)
        sh("ip", "link", "set", "ul", "up", ns=ns)
    meta = HTTPServer(("127.0.0.1", 0), MetadataEcho)
    threading.Thread(target=meta.serve_forever, daemon=True).start()
    secret = "s3cret-" + p
    common = {"driver": "linux", "bootstrap": False, "tunnel_dev": "ul", "metadata_secret": secret,
              "metadata_url": f"http://127.0.0.1:{meta.server_port}"}
    settings_a = make_settings(str(tmp_path / "a"), "", network={
        **common, "prefix": p, "host": f"{p}-A", "host_netns": host_a,
        "tunnel_ip": "192.168.213.1"})
    settings_b = make_settings(str(tmp_path / "b"), "", network={
        **common, "prefix": "u" + p[1:], "host": f"{p}-B", "host_netns": host_b, "tunnel_ip": "192.168.213.2",
        "dhcp_agent": False, "l3_agent": False})
    world = {"p": p, "prefixes": (settings_a.network.prefix, settings_b.network.prefix), "host_a": host_a,
             "settings_a": settings_a,
             "host_b": host_b, "secret": secret, "tmp": tmp_path, "ns": created_ns, "procs": procs}
    with running_cloud(settings_a) as (cloud, http, passwords):
        agent_a = next(a for a in cloud.agents if isinstance(a, NetworkAgent))
        agent_b = build_agent(settings_b, cloud.uow, cloud.bus, "linux")
        agent_b.start()
        world.update(cloud=cloud, admin=login(http, "admin", passwords["admin"], "admin"), agent_a=agent_a,
                     agent_b=agent_b)
        try:
            yield world
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            agent_b.stop()
            if "restarted" in world:
                world["restarted"].stop()
    meta.shutdown()
    for ns in created_ns:
        sh("ip", "netns", "del", ns, check=False)
    for ns in sh("ip", "netns", "list").stdout.split():  # after a failure: what the agents had not removed
        if ns.startswith(world["prefixes"]):
            sh("ip", "netns", "del", ns, check=False)


def port_device(world, port: dict, host_ns: str) -> str:
    """The name the port's host (its agent's kernel prefix) gives the port's device, as compute names it."""
    return devname(port["id"], world["prefixes"][0 if host_ns == world["host_a"] else 1])


def guest(world, port: dict, host_ns: str, name: str) -> tuple[str, str]:
    """A namespace plugged into ``port`` the way compute plugs a container: a veth named after the port."""
    ns = f"{world['p']}-{name}"
    sh("ip", "netns", "add", ns)
    world["ns"].insert(0, ns)
    dev = port_device(world, port, host_ns)
    sh("ip", "link", "add", dev, "netns", host_ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "link", "set", "eth0", "address", port["mac_address"], "mtu", "1450", "up", ns=ns)
    sh("ip", "link", "set", "lo", "up", ns=ns)
    script = world["tmp"] / f"udhcpc-{name}.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    lease = world["tmp"] / f"lease-{name}"
    env_cmd = ["env", f"LEASE_FILE={lease}", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10", "-T", "1", "-s",
               str(script)]
    sh(*env_cmd, ns=ns, timeout=60)
    return ns, lease.read_text().strip()


def serve(world, ns: str, *ports: int) -> None:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", SERVER, *map(str, ports)],
                            stdout=subprocess.PIPE, text=True)
    world["procs"].append(proc)
    assert proc.stdout.readline().strip() == "ready"


def api(world, method: str, path: str, body=None, status: int | None = None):
    resp = world["admin"].request(method, N + path, json=body)
    if status is not None:
        assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def kernel_leftovers(world) -> list[str]:
    left = []
    prefixes = world["prefixes"]
    for ns in sh("ip", "netns", "list").stdout.split():
        if ns.startswith(prefixes) and ns not in (world["host_a"], world["host_b"]):
            left.append(f"netns {ns}")
    for host in (world["host_a"], world["host_b"]):
        for line in sh("ip", "-o", "link", "show", ns=host).stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(prefixes):
                left.append(f"link {name} in {host}")
        for line in sh("nft", "list", "tables", ns=host).stdout.splitlines():
            if any(f" {pre}_" in line for pre in prefixes):
                left.append(f"nft {line} in {host}")
        for line in sh("iptables-save", "-t", "filter", ns=host).stdout.splitlines():
            if line.startswith(tuple(f":{pre}-" for pre in prefixes)):
                left.append(f"chain {line} in {host}")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read()
            except OSError:
                continue
            if b"dnsmasq" in cmd and str(world["tmp"]).encode() in cmd:
                left.append(f"dnsmasq pid {pid}")
    return left


def test_linux_data_plane_dhcp_security_groups_snat_floating_ip_metadata_vxlan(world):
    p, host_a, host_b = world["p"], world["host_a"], world["host_b"]
    ext_cidr = "172.29.5.0/24"
    ext = api(world, "POST", "/networks", {"network": {"name": "ext", "router:external": True,
                                                       "provider:network_type": "flat",
                                                       "provider:physical_network": "ext"}}, 201)["network"]
    api(world, "POST", "/subnets", {"subnet": {"network_id": ext["id"], "cidr": ext_cidr, "enable_dhcp": False}},
        201)
    net1 = api(world, "POST", "/networks", {"network": {"name": "net1"}}, 201)["network"]
    sub1 = api(world, "POST", "/subnets", {"subnet": {"network_id": net1["id"], "cidr": "10.213.1.0/24"}},
               201)["subnet"]
    net2 = api(world, "POST", "/networks", {"network": {"name": "net2"}}, 201)["network"]
    sub2 = api(world, "POST", "/subnets", {"subnet": {"network_id": net2["id"], "cidr": "10.213.2.0/24"}},
               201)["subnet"]
    router = api(world, "POST", "/routers", {"router": {"name": "r", "external_gateway_info": {
        "network_id": ext["id"]}}}, 201)["router"]
    gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    for sub in (sub1, sub2):
        api(world, "PUT", f"/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}, 200)
    web = api(world, "POST", "/security-groups", {"security_group": {"name": "web"}}, 201)["security_group"]
    api(world, "POST", "/security-group-rules", {"security_group_rule": {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 8001,
        "port_range_max": 8001}}, 201)

    def port(net, host, groups=None, device=None):
        body = {"network_id": net["id"], "binding:host_id": host, "device_owner": "compute:nova",
                "device_id": device or str(uuid.uuid4())}
        if groups is not None:
            body["security_groups"] = groups
        return api(world, "POST", "/ports", {"port": body}, 201)["port"]

    host_a_name, host_b_name = world["agent_a"].state.host, world["agent_b"].state.host
    vm1 = port(net1, host_a_name, [web["id"]])
    vm2 = port(net1, host_a_name)
    vm3 = port(net2, host_b_name, [web["id"]])

    # DHCP leases exactly the addresses the API assigned (vm3 over VXLAN from host A's dnsmasq)
    g1, ip1 = guest(world, vm1, host_a, "vm1")
    g2, ip2 = guest(world, vm2, host_a, "vm2")
    g3, ip3 = guest(world, vm3, host_b, "vm3")
    assert ip1 == vm1["fixed_ips"][0]["ip_address"]
    assert ip2 == vm2["fixed_ips"][0]["ip_address"]
    assert ip3 == vm3["fixed_ips"][0]["ip_address"]
    for vm in (vm1, vm2, vm3):
        wait_for(lambda vm=vm: api(world, "GET", f"/ports/{vm['id']}")["port"]["status"] == "ACTIVE",
                 what=f"port {vm['id']} ACTIVE")

    # security group: TCP 8001 open on vm1, 8002 closed; replies flow back through conntrack
    serve(world, g1, 8001, 8002)
    assert wait_for(lambda: tcp(g2, ip1, 8001), what="vm2 -> vm1:8001") == ip2
    assert tcp(g2, ip1, 8002, timeout=1.5) is None

    # VXLAN: vm3 on host B, other network, reaches vm1 on host A through the router
    assert wait_for(lambda: tcp(g3, ip1, 8001), what="vm3 -> vm1:8001 over VXLAN") == ip3

    # SNAT: the external side (host A's namespace, on the external bridge) sees the router's address
    ext_gw = "172.29.5.1"
    serve(world, host_a, 9000)
    assert wait_for(lambda: tcp(g2, ext_gw, 9000), what="vm2 -> external") == gw_ip

    # floating IP: reachable from the external side; vm1's outbound traffic leaves as the floating IP
    fip = api(world, "POST", "/floatingips", {"floatingip": {"floating_network_id": ext["id"],
                                                             "port_id": vm1["id"]}}, 201)["floatingip"]
    fip_ip = fip["floating_ip_address"]
    assert wait_for(lambda: tcp(host_a, fip_ip, 8001), what="external -> floating IP") == ext_gw
    assert wait_for(lambda: tcp(g1, ext_gw, 9000) == fip_ip, what="vm1 -> external as the FIP")
    wait_for(lambda: api(world, "GET", f"/floatingips/{fip['id']}")["floatingip"]["status"] == "ACTIVE")

    # metadata: proxied with the instance identified by its port, signed
    out = wait_for(lambda: sh("curl", "-s", "-m", "3", "http://169.254.169.254/latest/meta-data/", ns=g1,
                              check=False).stdout, what="metadata answer")
    headers = {k.lower(): v for k, v in json.loads(out).items()}
    assert headers["x-instance-id"] == vm1["device_id"] and headers["x-forwarded-for"] == ip1
    assert headers["x-instance-id-signature"] == hmac.new(world["secret"].encode(), vm1["device_id"].encode(),
                                                          hashlib.sha256).hexdigest()

    # restart: a new agent process adopts the kernel state (and restarts the helpers it supervises)
    world["agent_a"].stop()
    restarted = build_agent(world["settings_a"], world["cloud"].uow, world["cloud"].bus, "linux")
    restarted.start()
    world["restarted"] = restarted
    assert wait_for(lambda: tcp(g2, ip1, 8001), what="traffic after an agent restart") == ip2
    assert wait_for(lambda: tcp(host_a, fip_ip, 8001), what="floating IP after an agent restart") == ext_gw
    assert tcp(g2, ip1, 8002, timeout=1.5) is None

    # tear everything down through the API: the agents remove every kernel object they made
    for proc in world["procs"]:
        proc.kill()
        proc.wait()
    world["procs"].clear()
    for ns in (g1, g2, g3):
        sh("ip", "netns", "del", ns)
        world["ns"].remove(ns)
    api(world, "DELETE", f"/floatingips/{fip['id']}", status=204)
    for vm in (vm1, vm2, vm3):
        api(world, "DELETE", f"/ports/{vm['id']}", status=204)
    for sub in (sub1, sub2):
        api(world, "PUT", f"/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]}, 200)
    api(world, "DELETE", f"/routers/{router['id']}", status=204)
    api(world, "DELETE", f"/security-groups/{web['id']}", status=204)
    for net in (net1, net2, ext):
        api(world, "DELETE", f"/networks/{net['id']}", status=204)
    wait_for(lambda: not kernel_leftovers(world), timeout=30, what="cleanup")
    assert p  # every kernel object above carried this prefix


def test_router_forgets_the_mac_of_a_deleted_ports_address(world):
    """A server deleted and another booted with its address: the router must not keep sending to the old
    MAC (its neighbour entry stays REACHABLE for up to ~45 s, then STALE).  The guests here are plain
    namespaces that announce nothing (no gratuitous ARP): only the agent's flush makes the new one reachable."""
    net = api(world, "POST", "/networks", {"network": {"name": "reuse"}}, 201)["network"]
    sub = api(world, "POST", "/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.213.7.0/24",
                                                     "enable_dhcp": False}}, 201)["subnet"]
    router = api(world, "POST", "/routers", {"router": {"name": "r"}}, 201)["router"]
    api(world, "PUT", f"/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}, 200)
    router_ns = f"{world['prefixes'][0]}-r-{router['id']}"
    ip = "10.213.7.50"

    def boot(name: str) -> tuple[dict, str]:
        port = api(world, "POST", "/ports", {"port": {
            "network_id": net["id"], "binding:host_id": world["agent_a"].state.host, "device_owner": "compute:nova",
            "device_id": str(uuid.uuid4()), "port_security_enabled": False,
            "fixed_ips": [{"subnet_id": sub["id"], "ip_address": ip}]}}, 201)["port"]
        ns = f"{world['p']}-{name}"
        sh("ip", "netns", "add", ns)
        world["ns"].insert(0, ns)
        sh("ip", "link", "add", port_device(world, port, world["host_a"]), "netns", world["host_a"], "type", "veth",
           "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", "eth0", "address", port["mac_address"], "up", ns=ns)
        sh("ip", "addr", "add", f"{ip}/24", "dev", "eth0", ns=ns)  # no arping, no DHCP: nothing announced
        wait_for(lambda: api(world, "GET", f"/ports/{port['id']}")["port"]["status"] == "ACTIVE", what="port ACTIVE")
        return port, ns

    def neighbour() -> str:
        return sh("ip", "neigh", "show", ip, ns=router_ns).stdout.lower()

    old, old_ns = boot("old")
    wait_for(lambda: router_ns in sh("ip", "netns", "list").stdout, what="router namespace")
    wait_for(lambda: sh("ping", "-c", "1", "-W", "1", ip, ns=router_ns, check=False).returncode == 0,
             what="the first guest from the router")
    assert old["mac_address"] in neighbour()  # the router has the old MAC, REACHABLE
    api(world, "DELETE", f"/ports/{old['id']}", status=204)
    sh("ip", "netns", "del", old_ns)
    world["ns"].remove(old_ns)
    wait_for(lambda: old["mac_address"] not in neighbour(), what="the router to forget the deleted port's MAC")
    new, new_ns = boot("new")
    assert new["mac_address"] != old["mac_address"]
    assert sh("ping", "-c", "3", "-W", "1", ip, ns=router_ns, check=False).returncode == 0
    assert new["mac_address"] in neighbour()
    api(world, "DELETE", f"/ports/{new['id']}", status=204)
    api(world, "PUT", f"/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]}, 200)
    api(world, "DELETE", f"/routers/{router['id']}", status=204)
    api(world, "DELETE", f"/networks/{net['id']}", status=204)


class TestLinuxNetworkDriver(NetworkDriverContract):
    """The linux driver passes the same contract as the fake, in a namespace of its own."""

    @pytest.fixture
    def driver(self, tmp_path):
        prefix = "c" + uuid.uuid4().hex[:3]
        host = f"{prefix}-host"
        sh("ip", "netns", "add", host)
        driver = LinuxNetworkDriver(prefix=prefix, state_dir=str(tmp_path), host_netns=host,
                                    metadata_url="http://127.0.0.1:9", metadata_secret="x")
        driver.setup()
        try:
            yield driver
        finally:
            driver.close()
            left = [ns for ns in sh("ip", "netns", "list").stdout.split() if ns.startswith(prefix) and ns != host]
            links = [ln for ln in sh("ip", "-o", "link", "show", ns=host).stdout.splitlines()
                     if f": {prefix}" in ln]
            chains = [ln for ln in sh("iptables-save", ns=host).stdout.splitlines() if ln.startswith(f":{prefix}-")]
            for ns in left:
                sh("ip", "netns", "del", ns, check=False)
            sh("ip", "netns", "del", host, check=False)
            assert not left and not links and not chains, (left, links, chains)

    def make_device(self, driver, devname: str) -> bool:
        sh("ip", "link", "add", devname, "type", "veth", "peer", "name", devname[:-1] + "p", ns=driver.host_ns)
        return True


def test_dhcp_address_reused_by_a_new_port_is_offered_at_once(tmp_path):
    """A deleted port's lease is released (as Neutron's dhcp_release): its address, given to a new port
    with another MAC, is offered to that port right away instead of after the 24 h lease."""
    from onestack.network.drivers.base import Address, DhcpHost, DhcpSpec, DhcpSubnet, NetworkSpec

    for tool in ("dnsmasq", "udhcpc"):
        if not shutil.which(tool) or os.geteuid() != 0:
            pytest.skip(f"needs root and {tool}")
    prefix = "l" + uuid.uuid4().hex[:3]
    host, client = f"{prefix}-host", f"{prefix}-cl"
    sh("ip", "netns", "add", host)
    sh("ip", "netns", "add", client)
    driver = LinuxNetworkDriver(prefix=prefix, state_dir=str(tmp_path), host_netns=host,
                                metadata_url="http://127.0.0.1:9", metadata_secret="x")
    try:
        driver.setup()
        net = NetworkSpec(id=uuid.uuid4().hex, network_type="local", mtu=1500)
        driver.ensure_network(net)
        sh("ip", "link", "add", f"{prefix}tap", "netns", host, "type", "veth", "peer", "name", "eth0", "netns", client)
        sh("ip", "link", "set", f"{prefix}tap", "master", driver.bridge(net.id), "up", ns=host)
        script = tmp_path / "udhcpc.sh"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)

        dhcp_port = uuid.uuid4().hex

        def lease(mac: str, hostname: str, *others: DhcpHost, ip: str = "10.98.0.7") -> str:
            driver.ensure_dhcp(DhcpSpec(
                network_id=net.id, port_id=dhcp_port, mac="fa:16:3e:00:00:02",
                addresses=(Address("10.98.0.2", 24),), subnets=(DhcpSubnet("s", "10.98.0.0/24", "10.98.0.1", ()),),
                hosts=(*others, DhcpHost(mac, ip, hostname)), mtu=1500))
            sh("ip", "link", "set", "eth0", "down", ns=client)
            sh("ip", "link", "set", "eth0", "address", mac, "up", ns=client)
            out = tmp_path / f"lease-{hostname}"
            sh("env", f"LEASE_FILE={out}", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "4", "-T", "1", "-s", str(script),
               ns=client, check=False, timeout=30)
            return out.read_text().strip() if out.exists() else ""

        assert lease("fa:16:3e:00:00:a1", "first") == "10.98.0.7"
        # the first port is deleted, its address goes to a new port: offered without waiting for expiry
        assert lease("fa:16:3e:00:00:b2", "second") == "10.98.0.7"
        # a port added: one more file dnsmasq reads by itself, no reload (SIGHUP) of everything
        signals: list[int] = []
        proc = driver.dnsmasq[net.id]
        real_signal = proc.send_signal
        proc.send_signal = lambda sig: signals.append(sig) or real_signal(sig)
        second = DhcpHost("fa:16:3e:00:00:b2", "10.98.0.7", "second")
        assert lease("fa:16:3e:00:00:c3", "third", second, ip="10.98.0.8") == "10.98.0.8"
        assert signals == []
        # the names follow: a new port's line appended to the one DNS file, a deleted port's dropped
        wait_for(lambda: resolve(client, "10.98.0.2", "third.openstacklocal") == ["10.98.0.8"], what="third's name")
        assert resolve(client, "10.98.0.2", "second.openstacklocal") == ["10.98.0.7"]
        lease("fa:16:3e:00:00:c3", "third", ip="10.98.0.8")
        wait_for(lambda: resolve(client, "10.98.0.2", "second.openstacklocal") == [], what="second's name gone")
        assert resolve(client, "10.98.0.2", "third.openstacklocal") == ["10.98.0.8"]
        driver.delete_dhcp(net.id)
        driver.delete_network(net.id)
    finally:
        driver.close()
        for ns in sh("ip", "netns", "list").stdout.split():
            if ns.startswith(prefix):
                sh("ip", "netns", "del", ns, check=False)


DHCP6 = textwrap.dedent("""
    # a minimal DHCPv6 client: Solicit (rapid commit) / Request for an address, or Information-Request
    import os, select, socket, struct, sys
    mac, mode = bytes.fromhex(sys.argv[1].replace(":", "")), sys.argv[2]
    def opt(code, data=b""):
        return struct.pack("!HH", code, len(data)) + data
    def options(data):
        out, i = {}, 0
        while i + 4 <= len(data):
            code, n = struct.unpack("!HH", data[i:i + 4])
            out.setdefault(code, []).append(data[i + 4:i + 4 + n])
            i += 4 + n
        return out
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", 546))
    dst = ("ff02::1:2", 547, 0, socket.if_nametoindex("eth0"))
    duid = opt(1, struct.pack("!HH", 3, 1) + mac)
    ia = opt(3, struct.pack("!III", 1, 0, 0))
    msg = (bytes([1]) + os.urandom(3) + duid + ia + opt(8, b"\\0\\0") + opt(14) if mode == "address"
           else bytes([11]) + os.urandom(3) + duid + opt(8, b"\\0\\0") + opt(6, struct.pack("!H", 23)))
    for _ in range(20):
        s.sendto(msg, dst)
        while select.select([s], [], [], 0.5)[0]:
            data, _ = s.recvfrom(4096)
            if data[1:4] != msg[1:4]:
                continue
            opts = options(data[4:])
            if data[0] == 2:  # Advertise: request what was offered
                msg = bytes([3]) + os.urandom(3) + duid + opt(2, opts[2][0]) + opt(3, opts[3][0]) + opt(8, b"\\0\\0")
                break
            if data[0] == 7 and mode == "address":
                addr = options(opts[3][0][12:])[5][0][:16]
                print(socket.inet_ntop(socket.AF_INET6, addr)); sys.exit(0)
            if data[0] == 7:
                dns = opts[23][0]
                print(" ".join(socket.inet_ntop(socket.AF_INET6, dns[i:i + 16]) for i in range(0, len(dns), 16)))
                sys.exit(0)
    sys.exit(1)
""")


def guest6(world, port: dict, host_ns: str, name: str) -> str:
    """A namespace plugged into ``port`` that configures IPv6 from router advertisements."""
    ns = f"{world['p']}-{name}"
    sh("ip", "netns", "add", ns)
    world["ns"].insert(0, ns)
    dev = port_device(world, port, host_ns)
    # before eth0 exists (it takes the defaults): soliciting often, no tentative addresses
    for key, value in (("accept_ra", 1), ("autoconf", 1), ("router_solicitation_interval", 1),
                       ("router_solicitations", 30), ("accept_dad", 0)):
        sh("sh", "-c", f"echo {value} > /proc/sys/net/ipv6/conf/default/{key}", ns=ns)
    sh("ip", "link", "add", dev, "netns", host_ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "link", "set", "eth0", "address", port["mac_address"], "mtu", "1450", "up", ns=ns)
    sh("ip", "link", "set", "lo", "up", ns=ns)
    return ns


def global6(ns: str) -> list[str]:
    out = sh("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global", ns=ns).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


@pytest.mark.skipif(not shutil.which("radvd"), reason="needs radvd")
def test_linux_ipv6_slaac_stateless_and_stateful_dhcpv6_with_ipv6_security_groups(world):
    host_a = world["host_a"]
    host = world["agent_a"].state.host
    net1 = api(world, "POST", "/networks", {"network": {"name": "v6-auto"}}, 201)["network"]
    sub1 = api(world, "POST", "/subnets", {"subnet": {
        "network_id": net1["id"], "ip_version": 6, "cidr": "fd61:1::/64", "ipv6_ra_mode": "dhcpv6-stateless",
        "ipv6_address_mode": "dhcpv6-stateless", "dns_nameservers": ["fd61:1::53"]}}, 201)["subnet"]
    net2 = api(world, "POST", "/networks", {"network": {"name": "v6-dhcp"}}, 201)["network"]
    sub2 = api(world, "POST", "/subnets", {"subnet": {
        "network_id": net2["id"], "ip_version": 6, "cidr": "fd61:2::/64", "ipv6_ra_mode": "dhcpv6-stateful",
        "ipv6_address_mode": "dhcpv6-stateful"}}, 201)["subnet"]
    router = api(world, "POST", "/routers", {"router": {"name": "r6"}}, 201)["router"]
    for sub in (sub1, sub2):
        api(world, "PUT", f"/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}, 200)
    web = api(world, "POST", "/security-groups", {"security_group": {"name": "web6"}}, 201)["security_group"]
    api(world, "POST", "/security-group-rules", {"security_group_rule": {
        "security_group_id": web["id"], "direction": "ingress", "ethertype": "IPv6", "protocol": "tcp",
        "port_range_min": 8001, "port_range_max": 8001}}, 201)

    def port(net, groups=None):
        body = {"network_id": net["id"], "binding:host_id": host, "device_owner": "compute:nova",
                "device_id": str(uuid.uuid4())}
        if groups is not None:
            body["security_groups"] = groups
        return api(world, "POST", "/ports", {"port": body}, 201)["port"]

    vm1, vm2, vm3 = port(net1, [web["id"]]), port(net1), port(net2)
    g1, g2, g3 = (guest6(world, vm, host_a, name) for vm, name in ((vm1, "v1"), (vm2, "v2"), (vm3, "v3")))

    # SLAAC from the router's advertisements: exactly the EUI-64 address the API assigned
    ip1, ip2 = vm1["fixed_ips"][0]["ip_address"], vm2["fixed_ips"][0]["ip_address"]
    assert wait_for(lambda: ip1 in global6(g1), timeout=40, what="SLAAC address of vm1")
    assert wait_for(lambda: ip2 in global6(g2), timeout=40, what="SLAAC address of vm2")
    # stateless DHCPv6: the options (DNS) from dnsmasq
    dns = wait_for(lambda: sh(PY, "-c", DHCP6, vm1["mac_address"], "info", ns=g1, check=False, timeout=30).stdout,
                   timeout=40, what="DHCPv6 Information-Request answer")
    assert dns.split() == ["fd61:1::53"]
    # stateful DHCPv6: the lease is the address the API assigned
    ip3 = vm3["fixed_ips"][0]["ip_address"]
    lease = wait_for(lambda: sh(PY, "-c", DHCP6, vm3["mac_address"], "address", ns=g3, check=False,
                                timeout=30).stdout.strip(), timeout=40, what="DHCPv6 lease")
    assert lease == ip3

    # IPv6 security group: TCP 8001 open on vm1, 8002 closed; both ways across the router too
    serve6 = SERVER.replace("socket.socket()", "socket.socket(socket.AF_INET6)").replace('"0.0.0.0"', '"::"')
    proc = subprocess.Popen(["ip", "netns", "exec", g1, PY, "-c", serve6, "8001", "8002"], stdout=subprocess.PIPE,
                            text=True)
    world["procs"].append(proc)
    assert proc.stdout.readline().strip() == "ready"
    assert wait_for(lambda: tcp(g2, ip1, 8001), timeout=30, what="vm2 -> [vm1]:8001") == ip2
    assert tcp(g2, ip1, 8002, timeout=1.5) is None
    sh("ip", "addr", "add", f"{ip3}/64", "dev", "eth0", ns=g3)
    assert wait_for(lambda: tcp(g3, ip1, 8001), timeout=30, what="vm3 -> [vm1]:8001 via the router") == ip3
