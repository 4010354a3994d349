"""Boot figures of both real compute drivers (root, Debian lxc, qemu-system-x86):
``python bench/boot.py [-n 20] [--bursts 3] [--no-qemu] [--no-driver]``.

API, for each driver: a real ``onestack up`` (linux network data plane, servers on the ``private``
network) driven over HTTP: API->ACTIVE p50/p95 (POST /servers until GET shows ACTIVE) and API->reachable
p50/p95 (the guest answers ping from its router's namespace) for N sequential boots and N boots submitted
at once (container: ``--bursts`` of them, 3, each reported, then the median of their p50s); the CPU the
cloud spends per boot (the onestack process, the tools it runs, its dnsmasq and the guests themselves), the
load average, and the memory added per server. Container guests boot ``busybox``
on ``c1.tiny``; QEMU guests (TCG: this machine has no usable KVM) ``busybox-vm`` on ``m1.nano``.
``--no-qemu`` skips the QEMU rows (each TCG guest is seconds of CPU and ~250 MB: slow, and reported as is).

Driver (container only): ``ContainerGuestDriver`` directly, for N sequential and N parallel boots of the
busybox image: p50/p95 of spawn() returning (the guest's init runs) and of the init's ``ready`` marker on
the console (hostname, key, network configured), plus the memory the guest's cgroup charges and the RSS of
its LXC monitor, and the CPU per boot of the commands the driver ran, of the LXC monitors and of the guests.

Everything is created under a temporary directory with a random prefix and destroyed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import secrets
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from onestack.compute.drivers.base import FlavorSpec, Guest, ImageSpec
from onestack.compute.drivers.container import cgroups, imagebuild
from onestack.compute.drivers.container.driver import ContainerGuestDriver


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def boot_one(driver: ContainerGuestDriver, image: ImageSpec) -> tuple[float, float, str]:
    uid = str(uuid.uuid4())
    guest = Guest(uuid=uid, name=f"bench-{uid[:8]}", hostname=f"bench-{uid[:8]}",
                  flavor=FlavorSpec(vcpus=1, memory_mb=128, root_gb=1), image=image)
    t0 = time.perf_counter()
    driver.spawn(guest)
    t_spawn = time.perf_counter() - t0
    if not driver.runtime.wait_console(driver._name(uid), "onestack-init: ready", 30):
        raise RuntimeError(f"guest {uid} never became ready")
    return t_spawn, time.perf_counter() - t0, uid


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tools_cpu() -> float:
    """CPU seconds of the commands this process ran and waited for (lxc-start, mount, ip, mkfs...)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def guest_cpu(driver: ContainerGuestDriver, uid: str) -> tuple[float, float]:
    """CPU seconds of a guest so far: (its LXC monitor and the monitor's hooks, the guest itself: LXC's set-up
    of the container, its init and everything the init ran), from their cgroups' CPU accounting."""
    base = cgroups.hierarchy().v1.get("cpuacct")
    name = driver._name(uid)
    out = []
    for d in (f"{name}.monitor", name):
        try:
            out.append(int((base / d / "cpuacct.usage").read_text()) / 1e9 if base is not None else 0.0)
        except (OSError, ValueError):
            out.append(0.0)
    return out[0], out[1]


def report(label: str, results: list[tuple[float, float, str]], driver: ContainerGuestDriver,
           tools: float | None = None) -> None:
    """``tools``: CPU seconds of the commands run for these boots (before any was destroyed)."""
    spawn = [r[0] for r in results]
    ready = [r[1] for r in results]
    mem, mon = [], []
    for _, _, uid in results:
        pid = driver.runtime.pid(driver._name(uid))
        mem.append((cgroups.memory_usage(pid) or 0) / 1024)
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        mon.append(rss_kb(ppid))
    cpu = [guest_cpu(driver, uid) for _, _, uid in results]
    n = len(results)
    print(f"{label:<12} n={n:<3} spawn p50 {statistics.median(spawn):.3f}s p95 {pct(spawn, 95):.3f}s | "
          f"ready p50 {statistics.median(ready):.3f}s p95 {pct(ready, 95):.3f}s | "
          f"guest cgroup memory {statistics.median(mem):.0f} kB, lxc monitor RSS {statistics.median(mon):.0f} kB")
    print(f"{'':<12} CPU per boot{'' if tools is None else f': tools run {tools / n * 1000:.1f} ms'}, "
          f"LXC monitor {sum(c[0] for c in cpu) / n * 1000:.1f} ms, guest {sum(c[1] for c in cpu) / n * 1000:.1f} ms "
          f"(until ready, plus the wait for every guest of the row)")


class Pinger:
    """ICMP echo from inside a network namespace: one raw socket opened there, one request to every
    awaited address every ``interval`` seconds, the time of each address's first answer."""

    def __init__(self, netns: str, interval: float = 0.01) -> None:
        self.netns, self.interval = netns, interval
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.wanted: dict[str, threading.Event] = {}
        self.first: dict[str, float] = {}
        self.seq = 0

    def _open(self) -> socket.socket:
        import ctypes
        import os

        libc = ctypes.CDLL(None, use_errno=True)
        clone_newnet = 0x40000000
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            libc.setns(target, clone_newnet)  # this thread only; the socket stays in that namespace
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        finally:
            libc.setns(own, clone_newnet)
            os.close(own)
            os.close(target)
        return sock

    def start(self) -> None:
        box: list[socket.socket] = []
        t = threading.Thread(target=lambda: box.append(self._open()))
        t.start()
        t.join()
        self.sock = box[0]
        self.sock.settimeout(0.2)
        threading.Thread(target=self._send, daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    @staticmethod
    def _checksum(data: bytes) -> int:
        total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2))
        if len(data) % 2:
            total += data[-1] << 8
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        return ~total & 0xFFFF

    def _send(self) -> None:
        while True:
            with self.lock:
                targets = [ip for ip in self.wanted if ip not in self.first]
            for ip in targets:
                self.seq = (self.seq + 1) & 0xFFFF
                head = struct.pack("!BBHHH", 8, 0, 0, 0x5EB0, self.seq)
                csum = self._checksum(head + b"onestack")
                with contextlib.suppress(OSError):
                    self.sock.sendto(struct.pack("!BBHHH", 8, 0, csum, 0x5EB0, self.seq) + b"onestack", (ip, 0))
            time.sleep(self.interval)

    def _receive(self) -> None:
        while True:
            try:
                data, (ip, _) = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            now = time.perf_counter()
            ihl = (data[0] & 0x0F) * 4
            if len(data) > ihl and data[ihl] == 0:  # echo reply
                with self.lock:
                    if ip in self.wanted and ip not in self.first:
                        self.first[ip] = now
                        self.wanted[ip].set()

    def wait(self, ip: str, timeout: float) -> float | None:
        with self.lock:
            self.first.pop(ip, None)
            event = self.wanted[ip] = threading.Event()
        event.wait(timeout)
        with self.lock:
            self.wanted.pop(ip, None)
            return self.first.pop(ip, None)


DRIVERS = {  # compute driver -> (image, flavor, extra settings)
    "container": ("busybox", "c1.tiny", {}),
    "qemu": ("busybox-vm", "m1.nano", {"ONESTACK_COMPUTE_QEMU_ACCEL": "tcg"}),
}


class ApiBench:
    """A real all-in-one cloud (one compute driver, linux data plane) on free CIDRs, driven over HTTP.

    One poller thread lists ``/servers/detail?changes-since=`` every ``poll`` seconds while servers are in
    flight (so the client's load does not grow with the number of servers); a server's API->ACTIVE time is its
    ``launched_at`` (written in the transaction that makes it ACTIVE) minus the POST's start, so the poll
    interval neither adds to it nor, polled often, steals the cloud's CPU. A server is *reachable* when a
    ping from the router's namespace (the guest's gateway) gets an answer.
    """

    def __init__(self, tmp: Path, poll: float = 0.05, log_path: str | None = None, driver: str = "container",
                 reach_timeout: float = 30.0) -> None:
        import random

        from onestack.core import config
        from onestack.core.testing.process import ServerProcess

        routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
        n = next(i for i in random.sample(range(1, 250), 249) if f"10.217.{i}." not in routes
                 and f"10.216.{i}." not in routes)
        self.data = tmp / "data"
        self.settings = config.load(env={}, data_dir=str(self.data))
        self.driver = driver
        self.image_name, self.flavor_name, extra = DRIVERS[driver]
        self.reach_timeout = reach_timeout
        self.env = {
            "ONESTACK_COMPUTE_DRIVER": driver, "ONESTACK_NETWORK_DRIVER": "linux",
            "ONESTACK_NETWORK_PUBLIC_CIDR": f"10.217.{n}.0/24", "ONESTACK_NETWORK_PRIVATE_CIDR": f"10.216.{n}.0/24",
            "ONESTACK_SERVER_LOG_REQUESTS": "false", "ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", **extra}
        self.server = ServerProcess(self.data, log_path=log_path or tmp / "server.log", env=self.env)
        self.poll = poll
        self.lock = threading.Lock()
        self.waiting: dict[str, dict] = {}  # server id -> {"t0", "active", "ip", "reach", "error"}

    def start(self) -> None:
        import openstack.config
        import openstack.connection

        if self.driver == "qemu":
            self._build_vm_image()
        self.server.start(timeout=120)
        cfg = openstack.config.OpenStackConfig(config_files=[str(self.server.clouds_yaml)])
        self.admin = openstack.connection.Connection(config=cfg.get_one("onestack"))
        self.demo = openstack.connection.Connection(config=cfg.get_one("onestack-demo"))
        pid = self.demo.current_project_id
        self.admin.set_compute_quotas(pid, instances=1000, cores=1000, ram=1 << 20)
        self.admin.network.update_quota(self.admin.network.get_quota(pid), ports=1000)
        sg = self.demo.network.find_security_group("default", project_id=pid)
        self.demo.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                                     ethertype="IPv4", protocol="icmp")
        self.net = self.demo.network.find_network("private").id
        self.image = self.demo.image.find_image(self.image_name).id
        self.flavor = self.demo.compute.find_flavor(self.flavor_name).id
        router = self.admin.network.find_router("router1")
        from onestack.network.agent import kernel_prefix

        self.router_ns = f"{kernel_prefix(self.settings)}-r-{router.id}"
        self.compute_url = self.demo.compute.get_endpoint()
        self.headers = {"X-Auth-Token": self.demo.session.get_token(), "Content-Type": "application/json"}
        self.http = requests.Session()
        self.stop_poller = threading.Event()
        self.poller = threading.Thread(target=self._poll, daemon=True)
        self.poller.start()
        self.pinger = Pinger(self.router_ns)
        deadline = time.monotonic() + 60  # the router namespace exists once the agent built it
        while self.router_ns not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                   text=True).stdout:
            if time.monotonic() > deadline:
                raise RuntimeError(f"router namespace {self.router_ns} never appeared")
            time.sleep(0.1)
        # the prober's ARP: pinging a guest before it has its address leaves the router's neighbour entry
        # incomplete, retried once a second; probe every 20 ms so that retry does not count as boot time
        subprocess.run(["ip", "netns", "exec", self.router_ns, "sh", "-c",
                        "for f in /proc/sys/net/ipv4/neigh/*/retrans_time_ms; do echo 20 > $f; done"], check=True)
        self.pinger.start()

    def _build_vm_image(self) -> None:
        """busybox-vm into the data dir before the first start (from the kernel .deb the tests cached)."""
        import shutil
        import sys

        cached = Path(os.environ.get("ONESTACK_TEST_CACHE") or Path.home() / ".cache" / "onestack-test")
        debs = self.data / "compute" / "test-images" / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for deb in (cached / "busybox-vm" / "debs").glob("*.deb"):
            shutil.copy(deb, debs / deb.name)
        subprocess.run([sys.executable, "-m", "onestack.cli", "image", "build", "busybox-vm", "--data-dir",
                        str(self.data)], check=True, capture_output=True, timeout=900, env={**os.environ, **self.env})

    def _poll(self) -> None:
        since: datetime | None = None
        while not self.stop_poller.wait(self.poll):
            with self.lock:
                if not any(w["active"] is None for w in self.waiting.values()):
                    continue
            # changes-since (as clients that watch many servers poll): only the servers that changed
            # since shortly before the previous poll are rendered, so polling costs the cloud little
            started = datetime.now(UTC)
            query = {"changes-since": since.isoformat()} if since is not None else {}
            r = self.http.get(f"{self.compute_url}/servers/detail", headers=self.headers, params=query)
            since = started - timedelta(seconds=1)
            now = time.perf_counter()
            for s in r.json().get("servers", ()):
                with self.lock:
                    w = self.waiting.get(s["id"])
                    if w is None or w["active"] is not None:
                        continue
                    if s["status"] == "ACTIVE":
                        # when it became ACTIVE, to the microsecond (the poll only finds out a little later)
                        launched = s.get("OS-SRV-USG:launched_at")
                        w["active"] = (datetime.fromisoformat(launched).replace(tzinfo=UTC).timestamp()
                                       - w["wall0"]) if launched else now - w["t0"]
                        ips = [a["addr"] for addrs in s["addresses"].values() for a in addrs]
                        w["ip"] = ips[0] if ips else None
                        w["done"].set()
                    elif s["status"] == "ERROR":
                        w["error"] = (s.get("fault") or {}).get("message", "ERROR")
                        w["done"].set()

    def boot(self, name: str, timeout: float = 120.0) -> dict:
        body = {"server": {"name": name, "imageRef": self.image, "flavorRef": self.flavor,
                           "networks": [{"uuid": self.net}]}}
        t0, wall0 = time.perf_counter(), time.time()
        r = self.http.post(f"{self.compute_url}/servers", json=body, headers=self.headers)
        r.raise_for_status()
        w = {"t0": t0, "wall0": wall0, "active": None, "ip": None, "reach": None, "error": None,
             "done": threading.Event(), "id": r.json()["server"]["id"]}
        with self.lock:
            self.waiting[w["id"]] = w
        if not w["done"].wait(timeout) or w["error"]:
            raise RuntimeError(f"{name} did not become ACTIVE: {w['error']}")
        reached = self.pinger.wait(w["ip"], timeout=self.reach_timeout)
        if reached is None:
            raise RuntimeError(f"{name} ({w['ip']}) never answered a ping\n{self.diagnose(w['id'])}")
        w["reach"] = reached - t0
        return w

    def diagnose(self, server_id: str) -> str:
        from onestack.compute.agent import container_prefix, container_state_dir

        guests = Path(container_state_dir(self.settings)) / "guests"
        name = container_prefix(self.settings) + server_id
        out = [self.http.post(f"{self.compute_url}/servers/{server_id}/action", headers=self.headers,
                             json={"os-getConsoleOutput": {"length": 30}}).text[-2000:]]
        port = next(iter(self.admin.network.ports(device_id=server_id)), None)
        if port is not None:
            out.append(f"port {port.id} {port.status} {port.mac_address}")
            from onestack.network.agent import kernel_prefix
            from onestack.network.views.ports import devname

            out.append(subprocess.run(["ip", "-d", "link", "show", devname(port.id, kernel_prefix(self.settings))],
                                      capture_output=True, text=True).stdout)
            dhcp = self.data / "network" / "dhcp" / port.network_id
            hosts = (dhcp / "hosts").read_text() if (dhcp / "hosts").exists() else ""
            out.append(f"in dnsmasq hosts: {port.mac_address in hosts}")
            log = (dhcp / "dnsmasq.log").read_text(errors="replace") if (dhcp / "dnsmasq.log").exists() else ""
            out += [line for line in log.splitlines() if port.mac_address in line][-10:]
        if self.driver == "container":
            out.append(subprocess.run(["lxc-attach", "-P", str(guests), "-n", name, "--", "/.onestack/busybox",
                                       "ip", "addr"], capture_output=True, text=True).stdout)
        return "\n".join(out)

    def delete_all(self) -> None:
        with self.lock:
            self.waiting.clear()
        ids = [s["id"] for s in self.http.get(f"{self.compute_url}/servers", headers=self.headers).json()["servers"]]
        for sid in ids:
            self.http.delete(f"{self.compute_url}/servers/{sid}", headers=self.headers)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = self.http.get(f"{self.compute_url}/servers", headers=self.headers).json()["servers"]
            if not left:
                return
            time.sleep(0.1)

    def memory_kb(self) -> tuple[int, int]:
        """(onestack process RSS, guests' memory) in kB: a container's LXC monitor RSS + its cgroup's
        memory; a QEMU guest's process RSS."""
        from onestack.compute.agent import container_prefix, container_state_dir
        from onestack.compute.drivers.container.runtime import Runtime

        if self.driver == "qemu":
            return rss_kb(self.server.pid), sum(rss_kb(pid) for pid in self._qemu_pids())
        rt = Runtime(Path(container_state_dir(self.settings)) / "guests", container_prefix(self.settings))
        guests = 0
        for name in rt.names():
            pid = rt.pid(name)
            if pid:
                guests += (cgroups.memory_usage(pid) or 0) // 1024
                ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                guests += rss_kb(ppid)
        return rss_kb(self.server.pid), guests

    def _qemu_pids(self) -> list[int]:
        from onestack.compute.agent import container_prefix

        prefix = container_prefix(self.settings).encode()
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                with contextlib.suppress(OSError):
                    cmd = (d / "cmdline").read_bytes()
                    if b"qemu-system" in cmd.split(b"\0", 1)[0] and prefix in cmd:
                        pids.append(int(d.name))
        return pids

    def cpu(self) -> dict[str, float]:
        """CPU seconds the cloud has used so far, by part: the onestack process itself (Python: API, agents),
        the tools it ran and waited for (lxc-start, mount, ip, nft, ...), its long-lived helpers (dnsmasq,
        ...) and the guests (container cgroups, LXC monitors included; QEMU processes)."""
        from onestack.compute.agent import container_prefix

        tick = os.sysconf("SC_CLK_TCK")
        stats: dict[int, list[str]] = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                with contextlib.suppress(OSError):
                    stats[int(d.name)] = (d / "stat").read_text().rsplit(")", 1)[1].split()
        own = stats.get(self.server.pid)
        if own is None:
            return {}
        guests = set(self._qemu_pids()) if self.driver == "qemu" else set()
        children: dict[int, list[int]] = {}
        for pid, f in stats.items():
            children.setdefault(int(f[1]), []).append(pid)
        helpers, todo = 0.0, list(children.get(self.server.pid, ()))
        while todo:
            pid = todo.pop()
            todo += children.get(pid, ())
            if pid not in guests:
                helpers += sum(int(x) for x in stats[pid][11:15]) / tick
        guest_cpu = sum(sum(int(x) for x in stats[p][11:15]) / tick for p in guests if p in stats)
        if self.driver == "container":
            base = cgroups.hierarchy(self.server.pid).v1.get("cpuacct")
            prefix = container_prefix(self.settings)
            for d in (base.iterdir() if base is not None else ()):
                if d.name.startswith(prefix):
                    with contextlib.suppress(OSError, ValueError):
                        guest_cpu += int((d / "cpuacct.usage").read_text()) / 1e9
        # /proc/<pid>/stat after the command: [11] utime [12] stime [13] cutime [14] cstime
        return {"onestack": (int(own[11]) + int(own[12])) / tick, "tools": (int(own[13]) + int(own[14])) / tick,
                "helpers": helpers, "guests": guest_cpu}

    def settle(self, timeout: float = 30.0) -> None:
        """Until the onestack process is idle (at most 20 ms of CPU in two half-seconds in a row): what a
        delete leaves to the agents (ports, DHCP entries, firewall, neighbours) would otherwise run during
        the next measurement, in its CPU figures and in its way."""
        def own() -> float:
            f = Path(f"/proc/{self.server.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

        deadline, calm, last = time.monotonic() + timeout, 0, own()
        while calm < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            now = own()
            calm = calm + 1 if now - last <= 0.02 else 0
            last = now

    def _wait_kernel_clean(self, timeout: float) -> None:
        from onestack.network.agent import kernel_prefix

        deadline = time.monotonic() + timeout
        while _kernel_objects(kernel_prefix(self.settings)) and time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        from onestack.compute.agent import container_prefix, container_state_dir
        from onestack.compute.drivers.container.runtime import Runtime

        if hasattr(self, "stop_poller"):
            self.stop_poller.set()
        try:
            if hasattr(self, "http"):
                self.delete_all()
                for name in ("router1",):
                    router = self.admin.network.find_router(name)
                    if router is not None:
                        for port in self.admin.network.ports(device_id=router.id,
                                                             device_owner="network:router_interface"):
                            self.admin.network.remove_interface_from_router(router, port_id=port.id)
                        self.admin.network.delete_router(router)
                for name in ("private", "public"):
                    net = self.admin.network.find_network(name)
                    if net is not None:
                        self.admin.network.delete_network(net)
                self._wait_kernel_clean(60)  # the network agent removes the kernel objects of what is gone
        finally:
            self.server.stop(timeout=30)
            rt = Runtime(Path(container_state_dir(self.settings)) / "guests", container_prefix(self.settings))
            for name in rt.names():
                rt.destroy(name)


def _kernel_objects(prefix: str) -> list[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = [line.split(":")[1].strip().split("@")[0] for line in
             subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()]
    return [n for n in names + links if n.startswith(prefix)]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def api_report(label: str, results: list[dict], cpu0: dict, cpu1: dict) -> None:
    active = [r["active"] for r in results]
    reach = [r["reach"] for r in results]
    n = len(results)
    per = {k: (cpu1.get(k, 0.0) - cpu0.get(k, 0.0)) / n * 1000 for k in ("onestack", "tools", "helpers", "guests")}
    print(f"  {label:<24} API->ACTIVE p50 {statistics.median(active):6.3f}s p95 {pct(active, 95):6.3f}s | "
          f"API->ping p50 {statistics.median(reach):6.3f}s p95 {pct(reach, 95):6.3f}s", flush=True)
    print(f"  {'':<24} CPU per boot {sum(per.values()):5.0f} ms: onestack process {per['onestack']:.0f}, tools it "
          f"ran {per['tools']:.0f}, helpers (dnsmasq...) {per['helpers']:.0f}, guest {per['guests']:.0f} | "
          f"load {load()}", flush=True)


def api_bench(driver: str, n: int, parallel: int, log_path: str | None = None, hold: float = 0,
              bursts: int = 1) -> None:
    reach_timeout = 30.0 if driver == "container" else 120.0 + 15.0 * parallel  # TCG guests share 2 cores
    with tempfile.TemporaryDirectory(prefix="onestack-bench-api-") as tmp:
        bench = ApiBench(Path(tmp), log_path=log_path, driver=driver, reach_timeout=reach_timeout)
        try:
            bench.start()
            print(f"{driver} driver, API ({bench.image_name} on {bench.flavor_name}); load before {load()}", flush=True)
            bench.boot("bench-warm")  # image download into the host cache
            bench.delete_all()
            bench.settle()
            rss0, guests0 = bench.memory_kb()
            cpu0 = bench.cpu()
            seq = []
            for i in range(n):
                seq.append(bench.boot(f"bench-s{i}"))
            cpu1 = bench.cpu()
            rss1, guests1 = bench.memory_kb()
            api_report(f"{n} sequential", seq, cpu0, cpu1)
            print(f"  {'':<24} memory per server: onestack RSS +{(rss1 - rss0) / n:.0f} kB, guest "
                  f"{(guests1 - guests0) / n:.0f} kB", flush=True)
            p50s = []
            for burst in range(bursts):  # (one burst's p50 is one sample: this host's speed varies run to run)
                bench.delete_all()
                bench.settle()
                cpu0 = bench.cpu()
                with ThreadPoolExecutor(parallel) as pool:
                    par = list(pool.map(lambda i, b=burst: bench.boot(f"bench-p{b}-{i}"), range(parallel)))
                label = f"{parallel} at once" + (f" ({burst + 1}/{bursts})" if bursts > 1 else "")
                api_report(label, par, cpu0, bench.cpu())
                p50s.append((statistics.median(r["active"] for r in par), statistics.median(r["reach"] for r in par)))
            if bursts > 1:
                active, reach = statistics.median(a for a, _ in p50s), statistics.median(r for _, r in p50s)
                print(f"  {'':<24} median of the {bursts} bursts' p50s: API->ACTIVE {active:.3f}s | "
                      f"API->ping {reach:.3f}s", flush=True)
        except Exception:
            if hold:  # leave the cloud up for a look (kill -CONT or wait)
                print(f"holding {tmp} for {hold}s (data {bench.data})", flush=True)
                time.sleep(hold)
            raise
        finally:
            bench.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="sequential boots, and boots at once, per driver")
    ap.add_argument("--parallel", type=int, default=4, help="driver figures: threads booting side by side")
    ap.add_argument("--no-api", dest="api", action="store_false", help="only the container driver figures")
    ap.add_argument("--no-driver", dest="driver", action="store_false", help="only the API figures")
    ap.add_argument("--no-container", dest="container", action="store_false", help="skip the container rows")
    ap.add_argument("--no-qemu", dest="qemu", action="store_false", help="skip the QEMU rows (quick run)")
    ap.add_argument("--qemu-n", type=int, help="QEMU sequential boots and boots at once (default: -n)")
    ap.add_argument("--server-log", help="keep the API runs' server log at this path (one per driver)")
    ap.add_argument("--hold-on-failure", type=float, default=0, help="seconds to keep a failed API run up")
    ap.add_argument("--bursts", type=int, default=3, help="API figures: boots-at-once bursts (each reported, "
                    "and the median of their p50s)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load {load()}", flush=True)
    if args.driver and args.container:
        driver_bench(args)
    for driver in ("container", "qemu"):
        if args.api and getattr(args, driver):
            n = args.n if driver == "container" else (args.qemu_n or args.n)
            log_path = f"{args.server_log}.{driver}" if args.server_log else None
            api_bench(driver, n, n, log_path, args.hold_on_failure, args.bursts if driver == "container" else 1)


def driver_bench(args) -> None:
    with tempfile.TemporaryDirectory(prefix="onestack-bench-") as tmp:
        built = imagebuild.build_busybox(Path(tmp) / "busybox.tar.gz")
        digest = hashlib.sha512(built.path.read_bytes()).hexdigest()
        image = ImageSpec(id="busybox-bench", disk_format="raw", container_format="compressed",
                          properties={"os_hash_value": digest}, path=str(built.path))
        driver = ContainerGuestDriver(Path(tmp) / "state", prefix="bn" + secrets.token_hex(2))
        try:
            t0 = time.perf_counter()
            first = boot_one(driver, image)
            print(f"first boot (image download, inspection, extraction): {time.perf_counter() - t0:.3f}s")
            driver.destroy(first[2])
            tools = tools_cpu()
            seq = [boot_one(driver, image) for _ in range(args.n)]
            report("sequential", seq, driver, tools_cpu() - tools)
            for _, _, uid in seq:
                driver.destroy(uid)
            tools = tools_cpu()
            with ThreadPoolExecutor(args.parallel) as pool:
                par = list(pool.map(lambda _: boot_one(driver, image), range(args.n)))
            report(f"parallel x{args.parallel}", par, driver, tools_cpu() - tools)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.parallel) as pool:
                list(pool.map(driver.destroy, [r[2] for r in par]))
            print(f"destroy {args.n} guests: {time.perf_counter() - t0:.3f}s")
        finally:
            for uid in driver.list_guests():
                driver.destroy(uid)
            driver.cache.clear()


if __name__ == "__main__":
    main()
