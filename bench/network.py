"""Networking benchmark: starts the real server and prints figures (never a timed test).

    .venv/bin/python bench/network.py [--duration 5] [--concurrency 8] [--ports 10000] [--no-dataplane]
                                      [--burst 20 [--existing 100]]

Against ``onestack up`` on a fresh data dir: networks created/s and ports created/s through the API
(target >= 200/s), ``GET /v2.0/ports`` with 10,000 ports, and -- as root, with the Linux data plane in a
namespace of its own -- the time from ``POST /v2.0/ports`` to the port passing traffic (the agent has
built the bridge, attached the device, applied the security groups; a guest namespace pings the DHCP
port).  The load generator is identity's keep-alive asyncio client.  ``--burst N`` then creates N ports
bound to the host at once (as N servers booting together) and reports the time until all pass traffic
and the CPU the cloud spent per port (the onestack process, the tools it ran, its dnsmasq): CPU-seconds,
the figure to compare on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import closing
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from identity import cpu_seconds, measure, password_body, post, request_bytes  # noqa: E402
from onestack.core.testing.process import ServerProcess  # noqa: E402
from onestack.network.drivers.linux import in_netns  # noqa: E402
from onestack.network.views.ports import devname  # noqa: E402

N = "/network/v2.0"


def call(base: str, method: str, path: str, token: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={
        "X-Auth-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def login(server: ServerProcess) -> tuple[str, str]:
    password = yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["onestack"]["auth"]["password"]
    headers, body = post(server.base_url, "/identity/v3/auth/tokens", password_body(password))
    return headers["X-Subject-Token"], body["token"]["project"]["id"]


def measured(server: ServerProcess, name: str, requests, args) -> object:
    """One load figure with the server's CPU per request: the load-independent cost (this machine is
    shared, so req/s alone says as much about the neighbours as about the code)."""
    result = measure(name, server.pid, server.port, requests, args.concurrency, args.duration, 201)
    per_core = result.count / result.server_cpu if result.server_cpu else float("nan")
    print(f"{result.line()}   (server CPU bound: {per_core:.0f}/s per core)", flush=True)
    return result


def settle(server: ServerProcess, limit: float = 120.0) -> None:
    """Wait until the server is idle (its agents done with the creates' events), so the CPU of the
    next figure is its own."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        cpu0 = cpu_seconds(server.pid)
        time.sleep(1.0)
        if cpu_seconds(server.pid) - cpu0 < 0.05:
            return


def api_figures(server: ServerProcess, args) -> None:
    base = server.base_url
    token, project = login(server)
    call(base, "PUT", f"{N}/quotas/{project}", token, {"quota": {"network": -1, "port": -1, "subnet": -1}})
    counter = iter(range(10**9))

    def networks():
        while True:
            body = json.dumps({"network": {"name": f"bench-{next(counter)}"}}).encode()
            yield request_bytes("POST", f"{N}/networks", {"X-Auth-Token": token}, body)

    measured(server, "POST /v2.0/networks", networks(), args)
    net = call(base, "POST", f"{N}/networks", token, {"network": {"name": "bench-ports"}})["network"]
    call(base, "POST", f"{N}/subnets", token, {"subnet": {"network_id": net["id"], "cidr": "10.128.0.0/12",
                                                          "enable_dhcp": False}})

    def ports():
        body = json.dumps({"port": {"network_id": net["id"]}}).encode()
        while True:
            yield request_bytes("POST", f"{N}/ports", {"X-Auth-Token": token}, body)

    have = measured(server, "POST /v2.0/ports", ports(), args).count
    started = time.perf_counter()
    while have < args.ports:
        batch = min(200, args.ports - have)
        call(base, "POST", f"{N}/ports", token, {"ports": [{"network_id": net["id"]}] * batch})
        have += batch
    print(f"bulk-created ports up to {args.ports} in {time.perf_counter() - started:.1f} s", flush=True)
    settle(server)
    timings = []
    cpu0 = cpu_seconds(server.pid)
    for _ in range(5):
        t0 = time.perf_counter()
        body = call(base, "GET", f"{N}/ports", token)
        timings.append(time.perf_counter() - t0)
    cpu = (cpu_seconds(server.pid) - cpu0) / 5 * 1000
    print(f"GET /v2.0/ports with {len(body['ports'])} ports: median {statistics.median(timings) * 1000:.0f} ms, "
          f"best {min(timings) * 1000:.0f} ms, server CPU {cpu:.0f} ms ({len(json.dumps(body)) / 1e6:.1f} MB)",
          flush=True)
    t0 = time.perf_counter()
    call(base, "GET", f"{N}/ports?limit=100", token)
    print(f"GET /v2.0/ports?limit=100 with {args.ports} ports: {(time.perf_counter() - t0) * 1000:.0f} ms")


def sh(*cmd: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(full)}: {proc.stderr}")
    return proc


def icmp_socket(ns: str) -> socket.socket:
    with in_netns(ns):  # the socket stays in the guest's namespace
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)


def _checksum(data: bytes) -> int:
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def ping(sock: socket.socket, dst: str, ident: int, wait: float = 0.02) -> bool:
    """One ICMP echo; True when the reply arrives within ``wait`` (fine-grained, unlike ping -W)."""
    head = struct.pack("!BBHHH", 8, 0, 0, ident & 0xFFFF, 1) + b"onestack"
    deadline = time.perf_counter() + wait
    try:
        sock.sendto(struct.pack("!BBHHH", 8, 0, _checksum(head), ident & 0xFFFF, 1) + b"onestack", (dst, 0))
    except OSError:  # neighbour resolution failed (the port did not pass ARP yet)
        time.sleep(wait)
        return False
    while (left := deadline - time.perf_counter()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return False
        data, addr = sock.recvfrom(2048)
        if addr[0] == dst and data[(data[0] & 0x0F) * 4] == 0:
            return True
    return False


def cloud_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far: the onestack process, the tools it ran and waited for (ip, nft, ...), and its
    long-lived helpers (dnsmasq, ...), as bench/boot.py counts them."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stats[int(d.name)] = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    own = stats[pid]
    children: dict[int, list[int]] = {}
    for child, f in stats.items():
        children.setdefault(int(f[1]), []).append(child)
    helpers, todo = 0.0, list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        todo += children.get(child, ())
        helpers += sum(int(x) for x in stats[child][11:15]) / tick
    return {"onestack": (int(own[11]) + int(own[12])) / tick, "tools": (int(own[13]) + int(own[14])) / tick,
            "helpers": helpers}


def plug(prefix: str, host_ns: str, guest: str, port: dict) -> None:
    """The port's device the way compute plugs it: a veth named after the port, the guest side set up."""
    dev = devname(port["id"], prefix)
    sh("ip", "link", "add", dev, "netns", host_ns, "type", "veth", "peer", "name", "eth0", "netns", guest)
    # the guest re-asks ARP every 20 ms instead of every second: the figure is the data plane's
    # time, not the guest's neighbour timer after a request the not yet plugged port dropped
    sh("sh", "-c", "echo 20 > /proc/sys/net/ipv4/neigh/eth0/retrans_time_ms", ns=guest)
    sh("ip", "link", "set", "eth0", "address", port["mac_address"], "mtu", "1450", "up", ns=guest)
    sh("ip", "addr", "add", f"{port['fixed_ips'][0]['ip_address']}/24", "dev", "eth0", ns=guest)


def burst_figure(server: ServerProcess, prefix: str, host_ns: str, token: str, net: dict, dhcp: str,
                 n: int, guests: list[str], existing: int = 0) -> None:
    """``n`` ports created at once (concurrent POSTs, as n servers booting together), each plugged as it
    comes back, on a host already holding ``existing`` ports: the time until every one passes traffic
    and the cloud's CPU per port."""
    base = server.base_url
    bound = {"network_id": net["id"], "binding:host_id": "bench", "device_owner": "compute:nova"}
    while existing > 0:  # ports of servers already on the host, plugged (veths without a guest behind)
        batch = min(100, existing)
        made = call(base, "POST", f"{N}/ports", token, {"ports": [{**bound, "device_id": str(uuid.uuid4())}] * batch})
        script = "".join(f"link add {devname(port['id'], prefix)} type veth peer name {prefix}p{existing}-{i}\n"
                         for i, port in enumerate(made["ports"]))
        subprocess.run(["ip", "-n", host_ns, "-batch", "-"], input=script, text=True, check=True)
        existing -= batch
    settle(server)
    names = [f"{prefix}-b{i}" for i in range(n)]
    for guest in names:
        sh("ip", "netns", "add", guest)
        guests.append(guest)
    socks = {guest: icmp_socket(guest) for guest in names}

    def boot(guest: str) -> None:
        port = call(base, "POST", f"{N}/ports", token, {"port": {**bound, "device_id": str(uuid.uuid4())}})["port"]
        plug(prefix, host_ns, guest, port)

    cpu0 = cloud_cpu(server.pid)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=boot, args=(guest,)) for guest in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done: dict[str, float] = {}
    try:
        while len(done) < n:
            for i, guest in enumerate(names):
                if guest not in done and ping(socks[guest], dhcp, 1000 + i, wait=0.01):
                    done[guest] = time.perf_counter() - t0
            if time.perf_counter() - t0 > 120:
                raise RuntimeError(f"only {len(done)} of {n} ports passed traffic")
    finally:
        for sock in socks.values():
            sock.close()
    wall = max(done.values())
    settle(server)  # the agent's trailing work (status reports, resyncs of the burst) counts too
    cpu1 = cloud_cpu(server.pid)
    per = {k: (cpu1[k] - cpu0[k]) / n for k in cpu0}
    print(f"burst of {n} ports at once on a host with {existing_total(server, token, net)} ports -> all passing "
          f"traffic in {wall:.1f} s; cloud CPU per port {sum(per.values()) * 1000:.0f} ms: onestack process "
          f"{per['onestack'] * 1000:.0f}, tools {per['tools'] * 1000:.0f}, helpers {per['helpers'] * 1000:.0f} "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)


def existing_total(server: ServerProcess, token: str, net: dict) -> int:
    return len(call(server.base_url, "GET", f"{N}/ports?network_id={net['id']}&fields=id", token)["ports"])


def dataplane_figure(tmp: Path, samples: int, burst: int = 0, existing: int = 0) -> None:
    prefix = "b" + uuid.uuid4().hex[:3]
    host_ns = f"{prefix}-host"
    sh("ip", "netns", "add", host_ns)
    env = {"ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", "ONESTACK_COMPUTE_DRIVER": "fake",
           "ONESTACK_NETWORK_DRIVER": "linux", "ONESTACK_NETWORK_PREFIX": prefix, "ONESTACK_NETWORK_HOST": "bench",
           "ONESTACK_NETWORK_HOST_NETNS": host_ns, "ONESTACK_NETWORK_BOOTSTRAP": "false"}
    server = ServerProcess(tmp / "dp", env=env, log_path=tmp / "dp.log")
    guests: list[str] = []
    try:
        server.start()
        base = server.base_url
        token, _ = login(server)
        net = call(base, "POST", f"{N}/networks", token, {"network": {"name": "dp"}})["network"]
        call(base, "POST", f"{N}/subnets", token, {"subnet": {"network_id": net["id"], "cidr": "10.214.0.0/24"}})
        dhcp = None
        while dhcp is None:  # the DHCP port: the agent's own object on the network, the traffic target
            found = call(base, "GET", f"{N}/ports?device_owner=network:dhcp&network_id={net['id']}", token)
            dhcp = found["ports"][0]["fixed_ips"][0]["ip_address"] if found["ports"] else None
        times, after_plug = [], []
        for i in range(samples):
            guest = f"{prefix}-g{i}"
            sh("ip", "netns", "add", guest)
            guests.append(guest)
            t0 = time.perf_counter()
            port = call(base, "POST", f"{N}/ports", token, {"port": {
                "network_id": net["id"], "binding:host_id": "bench", "device_owner": "compute:nova",
                "device_id": str(uuid.uuid4())}})["port"]
            plug(prefix, host_ns, guest, port)
            plugged = time.perf_counter()
            with closing(icmp_socket(guest)) as sock:
                while not ping(sock, dhcp, i):
                    if time.perf_counter() - t0 > 60:
                        raise RuntimeError("port never passed traffic")
            times.append(time.perf_counter() - t0)
            after_plug.append(time.perf_counter() - plugged)
        # the second figure leaves out the bench's own device set-up (four `ip` runs, as compute's plug)
        print(f"port create -> passing traffic (linux data plane, {samples} ports): median "
              f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms; after the device was "
              f"plugged: median {statistics.median(after_plug) * 1000:.0f} ms, max {max(after_plug) * 1000:.0f} ms "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        if burst:
            burst_figure(server, prefix, host_ns, token, net, dhcp, burst, guests, existing)
    finally:
        for guest in guests:
            sh("ip", "netns", "del", guest, check=False)
        server.stop()
        for ns in sh("ip", "netns", "list").stdout.split():
            if ns.startswith(prefix):  # the server stopped its dnsmasq; its namespaces go with the bench
                sh("ip", "netns", "del", ns, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="onestack networking benchmark")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ports", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--no-dataplane", action="store_true")
    parser.add_argument("--burst", type=int, default=0, help="also create this many ports at once (CPU per port)")
    parser.add_argument("--existing", type=int, default=0, help="ports already on the host before the burst")
    parser.add_argument("--no-api", action="store_true", help="only the data-plane figure")
    args = parser.parse_args(argv)
    # a VXLAN range wide enough for every network a quiet machine creates in the measured seconds
    # (the default 1:1000 ran out at ~250 creates/s and the rest answered 503)
    env = {"ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", "ONESTACK_NETWORK_DRIVER": "fake",
           "ONESTACK_COMPUTE_DRIVER": "fake", "ONESTACK_NETWORK_VXLAN_RANGES": "1:1000000"}
    with tempfile.TemporaryDirectory(prefix="onestack-bench-net-") as tmp:
        if not args.no_api:
            server = ServerProcess(Path(tmp) / "data", env=env, log_path=Path(tmp) / "server.log")
            server.start()
            try:
                print(f"onestack networking benchmark (pid {server.pid}, {os.cpu_count()} CPUs, "
                      f"{args.duration:.0f} s per figure, concurrency {args.concurrency})", flush=True)
                api_figures(server, args)
            finally:
                server.stop()
        tools = all(shutil.which(t) for t in ("ip", "dnsmasq", "nft"))
        if args.no_dataplane or os.geteuid() != 0 or not tools:
            print("port create -> passing traffic: skipped (needs root and ip/dnsmasq/nft)")
        else:
            dataplane_figure(Path(tmp), args.samples, args.burst, args.existing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
