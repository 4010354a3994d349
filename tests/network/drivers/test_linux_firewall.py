"""Security groups on the real kernel, driver level: three namespace "guests" on one bridge, IPv4
and IPv6, a remote-group rule kept as an nftables address set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

from onestack.network.drivers.base import FirewallPort, FirewallRule, NetworkSpec, PortSpec
from onestack.network.drivers.linux import LinuxNetworkDriver

pytestmark = pytest.mark.backend

if os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft")):
    pytest.skip("needs root, ip and nft", allow_module_level=True)

PY = sys.executable
SERVER = textwrap.dedent("""
    import socket, sys, threading
    def serve(port):
        s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port)); s.listen(16)
        while True:
            c, addr = s.accept(); c.sendall((addr[0].removeprefix("::ffff:") + "\\n").encode()); c.close()
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


def sh(*cmd: str, ns: str | None = None, check: bool = True, input: str | None = None):
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=30, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(full)}: {proc.returncode} {proc.stderr}")
    return proc


def tcp(ns: str, host: str, port: int, timeout: float = 2.0) -> str | None:
    proc = sh(PY, "-c", CLIENT, host, str(port), str(timeout), ns=ns, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def wait_tcp(ns: str, host: str, port: int, expect: str, attempts: int = 40) -> None:
    for _ in range(attempts):  # the first packets may wait for neighbour discovery
        if tcp(ns, host, port, 1.0) == expect:
            return
    raise AssertionError(f"{ns} never reached [{host}]:{port}")


@pytest.fixture
def lab(tmp_path):
    p = "f" + uuid.uuid4().hex[:3]
    host = f"{p}-host"
    sh("ip", "netns", "add", host)
    driver = LinuxNetworkDriver(prefix=p, state_dir=str(tmp_path), host_netns=host,
                                metadata_url="http://127.0.0.1:9", metadata_secret="x")
    driver.setup()
    net = NetworkSpec(id=uuid.uuid4().hex, network_type="local", mtu=1500)
    driver.ensure_network(net)
    guests, procs = {}, []
    try:
        for n in range(1, 4):
            port_id, ns = uuid.uuid4().hex, f"{p}-g{n}"
            mac, dev = f"fa:16:3e:00:{n:02x}:{n:02x}", ("tap" + port_id)[:14]
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", dev, "netns", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", "eth0", "address", mac, "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
            sh("ip", "addr", "add", f"10.77.0.{n}/24", "dev", "eth0", ns=ns)
            sh("ip", "addr", "add", f"fd77::{n}/64", "dev", "eth0", "nodad", ns=ns)
            assert driver.ensure_port(PortSpec(port_id, net.id, dev, mac))
            guests[n] = {"id": port_id, "ns": ns, "dev": dev, "mac": mac, "ips": (f"10.77.0.{n}", f"fd77::{n}")}
        proc = subprocess.Popen(["ip", "netns", "exec", guests[1]["ns"], PY, "-c", SERVER, "8001", "8002"],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        yield driver, guests, host
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        driver.apply_firewall(())
        driver.close()
        for n in guests:
            sh("ip", "netns", "del", guests[n]["ns"], check=False)
        sh("ip", "netns", "del", host, check=False)


def fw_port(g: dict, rules=(), security: bool = True) -> FirewallPort:
    return FirewallPort(id=g["id"], devname=g["dev"], mac=g["mac"], ips=g["ips"], port_security=security,
                        rules=tuple(rules))


EGRESS = (FirewallRule("egress", "IPv4"), FirewallRule("egress", "IPv6"))


def test_remote_group_rules_match_a_member_set_in_both_ethertypes(lab):
    driver, g, host = lab
    group = uuid.uuid4().hex
    web = [FirewallRule("ingress", ether, "tcp", 8001, 8001, remote_group=group) for ether in ("IPv4", "IPv6")]
    ports = (fw_port(g[1], EGRESS + tuple(web)), fw_port(g[2], EGRESS), fw_port(g[3], EGRESS))
    members = {group: g[1]["ips"] + g[2]["ips"]}
    driver.apply_firewall(ports, members)
    for ip in g[1]["ips"]:
        wait_tcp(g[2]["ns"], ip, 8001, g[2]["ips"][":" in ip])  # a member, v4 and v6
        assert tcp(g[2]["ns"], ip, 8002, 1.0) is None  # no rule for that port
        assert tcp(g[3]["ns"], ip, 8001, 1.0) is None  # not a member
    table = json.loads(sh("nft", "-j", "list", "table", "bridge", driver.sg_table, ns=host).stdout)["nftables"]
    rules_before = sum(1 for item in table if "rule" in item)

    # g3 joins the group: the sets change, the rules stay as they are
    driver.apply_firewall(ports, {group: members[group] + g[3]["ips"]})
    table = json.loads(sh("nft", "-j", "list", "table", "bridge", driver.sg_table, ns=host).stdout)["nftables"]
    assert sum(1 for item in table if "rule" in item) == rules_before
    sets = [item["set"]["name"] for item in table if "set" in item and item["set"]["name"].startswith("g")]
    assert len(sets) == 2
    for name, ip in zip(sorted(sets), ("10.77.0.3", "fd77::3"), strict=True):
        sh("nft", "get", "element", "bridge", driver.sg_table, name, f"{{ {ip} }}", ns=host)
    for ip in g[1]["ips"]:
        wait_tcp(g[3]["ns"], ip, 8001, g[3]["ips"][":" in ip])


def test_spoofed_source_and_unfiltered_devices_pass_nothing(lab):
    driver, g, host = lab
    allow_all = tuple(FirewallRule("ingress", e) for e in ("IPv4", "IPv6"))
    # g3 has no entry yet: a device of this agent without rules is cut off
    driver.apply_firewall((fw_port(g[1], EGRESS + allow_all), fw_port(g[2], EGRESS)), {})
    wait_tcp(g[2]["ns"], "fd77::1", 8001, "fd77::2")
    assert tcp(g[3]["ns"], "10.77.0.1", 8001, 1.0) is None
    # g2 takes another address: anti-spoofing drops it (v4 and v6)
    sh("ip", "addr", "add", "10.77.0.99/24", "dev", "eth0", ns=g[2]["ns"])
    sh("ip", "addr", "add", "fd77::99/64", "dev", "eth0", "nodad", ns=g[2]["ns"])
    spoof = textwrap.dedent("""
        import socket, sys
        fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
        s = socket.socket(fam); s.settimeout(1.0); s.bind((sys.argv[1], 0))
        try:
            s.connect((sys.argv[2], 8001)); print(s.recv(100).decode().strip())
        except OSError:
            print("blocked")
    """)
    for src, dst in (("10.77.0.99", "10.77.0.1"), ("fd77::99", "fd77::1")):
        assert sh(PY, "-c", spoof, src, dst, ns=g[2]["ns"]).stdout.strip() == "blocked"
    # port security off: no filtering at all for that port
    driver.apply_firewall((fw_port(g[1], EGRESS + allow_all), fw_port(g[2], security=False)), {})
    wait_tcp(g[2]["ns"], "10.77.0.1", 8001, "10.77.0.2")
    assert sh(PY, "-c", spoof, "10.77.0.99", "10.77.0.1", ns=g[2]["ns"]).stdout.strip() == "10.77.0.99"


def test_a_host_without_ports_removes_its_tables_once(lab, monkeypatch):

    driver, g, host = lab

    def tables() -> str:
        return sh("nft", "list", "tables", ns=host).stdout

    driver.apply_firewall((fw_port(g[1], EGRESS),), {})
    assert driver.sg_table in tables()
    driver.apply_firewall(())
    assert driver.sg_table not in tables() and driver.ct_table not in tables()
    runs: list[str] = []
    real = driver._nft.run
    monkeypatch.setattr(driver._nft, "run", lambda script: runs.append(script) or real(script))
    driver.apply_firewall(())  # every port event of a host without ports lands here
    assert runs == []
    driver.apply_firewall((fw_port(g[1], EGRESS),), {})
    assert driver.sg_table in tables()


def ruleset(host: str, table: str) -> dict:
    """The bridge table as data, without handles or listing order: what two ways of building it must agree on."""
    items = json.loads(sh("nft", "-j", "list", "table", "bridge", table, ns=host).stdout)["nftables"]
    out: dict = {}
    for item in items:
        for kind in ("set", "map", "chain"):
            if kind in item:
                obj = item[kind]
                elems = obj.get("elem", [])
                out[f"{kind} {obj['name']}"] = json.dumps(sorted(json.dumps(e, sort_keys=True) for e in elems))
        if "rule" in item:
            rule = item["rule"]
            out.setdefault(f"rules {rule['chain']}", []).append(json.dumps(rule["expr"], sort_keys=True))
    return out


def test_changes_touch_only_the_ports_they_concern_and_end_as_a_full_rebuild(lab, monkeypatch):
    import onestack.network.drivers.linux as linux

    driver, g, host = lab
    group = uuid.uuid4().hex
    allow_all = tuple(FirewallRule("ingress", e) for e in ("IPv4", "IPv6"))
    web = tuple(FirewallRule("ingress", e, "tcp", 8001, 8001, remote_group=group) for e in ("IPv4", "IPv6"))
    driver.apply_firewall((fw_port(g[1], EGRESS + web), fw_port(g[2], EGRESS)), {group: g[2]["ips"]})
    wait_tcp(g[2]["ns"], "10.77.0.1", 8001, "10.77.0.2")
    assert tcp(g[2]["ns"], "10.77.0.1", 8002, 1.0) is None

    scripts: list[str] = []
    real = driver._nft.run  # every ruleset change: one script, one transaction
    monkeypatch.setattr(driver._nft, "run", lambda script: scripts.append(script) or real(script))
    # a third port arrives and joins the group: one transaction, g1's chains untouched, g3 in the member set
    cid1, cid3 = linux._chain_id(g[1]["id"]), linux._chain_id(g[3]["id"])
    ports = (fw_port(g[1], EGRESS + web), fw_port(g[2], EGRESS), fw_port(g[3], EGRESS))
    driver.apply_firewall(ports, {group: g[2]["ips"] + g[3]["ips"]})
    assert len(scripts) == 1 and f"o_{cid3}" in scripts[0] and cid1 not in scripts[0]
    assert "delete table" not in scripts[0]
    wait_tcp(g[3]["ns"], "10.77.0.1", 8001, "10.77.0.3")
    # nothing changed: no nft run at all
    driver.apply_firewall(ports, {group: g[2]["ips"] + g[3]["ips"]})
    assert len(scripts) == 1
    # g1 opens everything, g2 goes, g3 turns port security off, the group is no longer named
    ports = (fw_port(g[1], EGRESS + allow_all), fw_port(g[3], security=False))
    driver.apply_firewall(ports, {})
    assert len(scripts) == 2 and "delete table" not in scripts[1]
    wait_tcp(g[3]["ns"], "10.77.0.1", 8002, "10.77.0.3")
    assert tcp(g[2]["ns"], "10.77.0.1", 8001, 1.0) is None  # a device of this agent without an entry
    incremental = ruleset(host, driver.sg_table)
    driver.applied_firewall = None  # as after a restart: the whole ruleset, atomically
    driver.apply_firewall(ports, {})
    assert "delete table" in scripts[2]
    assert ruleset(host, driver.sg_table) == incremental
    # the kernel lost track (tables removed behind the driver's back): the next change rebuilds them
    sh("nft", "delete", "table", "bridge", driver.sg_table, ns=host)
    driver.apply_firewall((fw_port(g[1], EGRESS + allow_all), fw_port(g[2], EGRESS), fw_port(g[3], security=False)),
                          {})
    assert ruleset(host, driver.sg_table) != incremental
    wait_tcp(g[2]["ns"], "10.77.0.1", 8001, "10.77.0.2")


def test_nft_scripts_run_in_the_namespace_given_with_or_without_libnftables(lab):
    from onestack.network.drivers.linux import LinuxDriverError, _Nft

    _, _, host = lab
    table = f"n2t{uuid.uuid4().hex[:8]}"
    for library in (True, False):
        nft = _Nft(host)
        if not library:
            nft._lib = None  # as on a host without libnftables.so.1: nft -f -
        try:
            nft.run(f"table inet {table} {{\n  chain c {{ type filter hook input priority 0; }}\n}}\n")
            assert table in sh("nft", "list", "tables", ns=host).stdout
            assert table not in sh("nft", "list", "tables").stdout  # not the agent's own namespace
            with pytest.raises(LinuxDriverError):
                nft.run(f"add rule inet {table} no-such-chain accept\n")
            nft.run(f"delete table inet {table}\n")
            assert table not in sh("nft", "list", "tables", ns=host).stdout
        finally:
            nft.close()
