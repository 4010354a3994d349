"""QEMU guest boot figures (root, qemu-system-x86_64): ``python bench/boot_qemu.py [-n 8] [-p 4]``.

``QemuGuestDriver`` directly (TCG unless the boot probe proves KVM), booting the ``busybox-vm`` image
(Debian cloud kernel + busybox initramfs + ext4 root) on a bridge of its own with a dnsmasq handing
out fixed leases.  For N sequential and P parallel boots: p50/p95 of spawn() returning (QEMU runs:
what the API reports as ACTIVE), of the guest init's ``ready`` marker, and of the guest answering
ping from the host's side of the bridge after its DHCP lease; plus RSS and CPU seconds per guest.

Each TCG guest costs ~250 MB and a busy core while it boots, so the parallel count is small on a
2-core machine (20 at once would measure the machine's swap, not the driver); the output says so.
Everything is created with a random prefix and removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from onestack.compute.drivers.base import FlavorSpec, Guest, ImageSpec, Interface
from onestack.compute.drivers.qemu import process, vmimage
from onestack.compute.drivers.qemu.driver import QemuGuestDriver

PING = ["ping"] if shutil.which("ping") else ["busybox", "ping"]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def proc_figures(pid: int | None) -> tuple[int, float]:
    """(RSS kB, CPU seconds) of a process."""
    if pid is None:
        return 0, 0.0
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError):
        return 0, 0.0


class Lan:
    def __init__(self, count: int) -> None:
        tag = secrets.token_hex(2)
        self.bridge = f"obbr{tag}"
        self.tag = tag
        net = ipaddress.ip_network(f"10.252.{secrets.randbelow(200) + 20}.0/24")
        self.work = Path(tempfile.mkdtemp(prefix=f"ob-lan-{tag}-"))
        self.hosts = [(f"fa:16:3e:52:{i >> 8:02x}:{i & 255:02x}", str(net[10 + i])) for i in range(count)]
        for cmd in (["ip", "link", "add", self.bridge, "type", "bridge"],
                    ["ip", "addr", "add", f"{net[1]}/24", "dev", self.bridge],
                    ["ip", "link", "set", self.bridge, "up"]):
            subprocess.run(cmd, check=True)
        (self.work / "hosts").write_text("".join(f"{mac},{ip}\n" for mac, ip in self.hosts))
        self.dnsmasq = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
             "--bind-interfaces", f"--interface={self.bridge}", "--except-interface=lo",
             f"--dhcp-range={net[10]},static,255.255.255.0,1h", f"--dhcp-hostsfile={self.work / 'hosts'}",
             f"--dhcp-leasefile={self.work / 'leases'}", "--user=root", "--group=root"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        self.dnsmasq.terminate()
        self.dnsmasq.wait(10)
        subprocess.run(["ip", "link", "del", self.bridge], check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def boot_one(driver: QemuGuestDriver, image: ImageSpec, lan: Lan, index: int, deadline: float = 600.0):
    mac, ip = lan.hosts[index]
    uid = str(uuid.uuid4())
    iface = Interface(port_id=uid, mac_address=mac,
                      details={"devname": f"obt{lan.tag}{index:03d}", "bridge_name": lan.bridge})
    guest = Guest(uuid=uid, name=f"bench-{uid[:8]}", hostname=f"bench-{uid[:8]}",
                  flavor=FlavorSpec(vcpus=1, memory_mb=128, root_gb=1), image=image, interfaces=(iface,))
    t0 = time.perf_counter()
    driver.spawn(guest)
    t_spawn = time.perf_counter() - t0
    t_ready = t_ping = None
    end = time.monotonic() + deadline
    while time.monotonic() < end and t_ping is None:
        if t_ready is None and "onestack-init: ready" in driver.console_output(uid, 50):
            t_ready = time.perf_counter() - t0
        if t_ready is not None and subprocess.run([*PING, "-c1", "-W1", ip], capture_output=True).returncode == 0:
            t_ping = time.perf_counter() - t0
        else:
            time.sleep(0.1)
    if t_ping is None:
        raise RuntimeError(f"guest {uid} was not reachable within {deadline:.0f} s:\n{driver.console_output(uid, 20)}")
    rss, cpu = proc_figures(process.pid_of(driver._require(uid)))
    return t_spawn, t_ready, t_ping, rss, cpu, uid


def report(label: str, results) -> None:
    for name, idx in (("spawn() returned (ACTIVE)", 0), ("guest init ready", 1), ("reachable (ping)", 2)):
        values = [r[idx] for r in results]
        print(f"  {label:<14} {name:<26} p50 {pct(values, 50):6.2f} s   p95 {pct(values, 95):6.2f} s")
    print(f"  {label:<14} {'per guest':<26} RSS {sum(r[3] for r in results) / len(results) / 1024:6.0f} MiB   "
          f"CPU to reachable {sum(r[4] for r in results) / len(results):5.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=8, help="sequential boots")
    ap.add_argument("-p", type=int, default=4, help="parallel boots (each TCG guest ~250 MB and a core)")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("qemu-system-x86_64"):
        print("needs root and qemu-system-x86_64")
        return 1
    cache = Path(os.environ.get("ONESTACK_TEST_CACHE") or Path.home() / ".cache" / "onestack-test") / "busybox-vm"
    built = vmimage.build_vm_image(cache, cache / "debs")

    def spec(image_id, path, fmt, cfmt, **props):
        return ImageSpec(id=image_id, disk_format=fmt, container_format=cfmt, path=str(path),
                         properties={"os_hash_value": hashlib.sha512(path.read_bytes()).hexdigest(), **props})
    images = {i.id: i for i in (spec("bench-kernel", built.kernel, "aki", "aki"),
                                spec("bench-ramdisk", built.ramdisk, "ari", "ari"))}
    root = spec("bench-root", built.root, "qcow2", "bare", kernel_id="bench-kernel", ramdisk_id="bench-ramdisk",
                os_command_line=built.command_line)
    state = Path(tempfile.mkdtemp(prefix="onestack-bench-qemu-"))
    driver = QemuGuestDriver(state, prefix="ob" + secrets.token_hex(3), resolve_image=images.get, stop_timeout=5)
    lan = Lan(args.n + args.p)
    try:
        accel = driver.accelerator(str(built.kernel))
        print(f"QEMU guests ({accel}, {driver._accel.why if driver._accel else ''}); load: "
              f"{load()}")
        driver.spawn(Guest(uuid=str(uuid.uuid4()), name="warm", hostname="warm", image=root,
                           flavor=FlavorSpec(vcpus=1, memory_mb=128, root_gb=1)))  # image cache filled once
        for uid in driver.list_guests():
            driver.destroy(uid)
        seq = []
        for i in range(args.n):
            seq.append(boot_one(driver, root, lan, i))
            driver.destroy(seq[-1][5])
        report(f"{args.n} sequential", seq)
        with ThreadPoolExecutor(args.p) as pool:
            par = list(pool.map(lambda i: boot_one(driver, root, lan, args.n + i), range(args.p)))
        report(f"{args.p} parallel", par)
        print(f"  (parallel count {args.p}, not 20: each TCG guest holds ~250 MB and a busy core while it boots "
              f"on this {os.cpu_count()}-core machine)")
        print(f"  load after: {load()}")
    finally:
        for uid in driver.list_guests():
            driver.destroy(uid)
        lan.close()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
