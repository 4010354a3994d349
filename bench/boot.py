"""Container boot figures (root + Debian lxc): ``python bench/boot.py [-n 20] [--no-api]``.

Driver: ``ContainerGuestDriver`` directly, for N sequential and N parallel boots of the busybox image:
p50/p95 of spawn() returning (the guest's init runs) and of the init's ``ready`` marker on the console
(hostname, key, network configured), plus the memory the guest's cgroup charges and the RSS of its
LXC monitor.

API: a real ``onestack up`` (container driver; fake network data plane, servers boot with
``networks: none``) driven by openstacksdk: API->ACTIVE p50/p95 (POST /servers until GET shows
ACTIVE) for N sequential boots and N boots submitted at once, and the server's RSS added per guest.
Everything is created under a temporary directory with a random prefix and destroyed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def report(label: str, results: list[tuple[float, float, str]], driver: ContainerGuestDriver) -> None:
    spawn = [r[0] for r in results]
    ready = [r[1] for r in results]
    mem, mon = [], []
    for _, _, uid in results:
        pid = driver.runtime.pid(driver._name(uid))
        mem.append((cgroups.memory_usage(pid) or 0) / 1024)
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        mon.append(rss_kb(ppid))
    print(f"{label:<12} n={len(results):<3} spawn p50 {statistics.median(spawn):.3f}s p95 {pct(spawn, 95):.3f}s | "
          f"ready p50 {statistics.median(ready):.3f}s p95 {pct(ready, 95):.3f}s | "
          f"guest cgroup memory {statistics.median(mem):.0f} kB, lxc monitor RSS {statistics.median(mon):.0f} kB")


def api_boot(conn, name: str, timeout: float = 120.0) -> tuple[float, str]:
    t0 = time.perf_counter()
    server = conn.compute.create_server(name=name, image_id=conn.image.find_image("busybox").id,
                                        flavor_id="c1", networks="none")
    while True:
        current = conn.compute.get_server(server.id)
        if current.status == "ACTIVE":
            return time.perf_counter() - t0, server.id
        if current.status == "ERROR" or time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"server {server.id} ended {current.status}: {current.fault}")
        time.sleep(0.01)


def delete_all(conn, ids: list[str]) -> None:
    for sid in ids:
        conn.compute.delete_server(sid)
    deadline = time.monotonic() + 120
    while list(conn.compute.servers()) and time.monotonic() < deadline:
        time.sleep(0.1)


def api_bench(n: int) -> None:
    import openstack.config
    import openstack.connection

    from onestack.compute.agent import container_prefix, container_state_dir
    from onestack.compute.drivers.container.runtime import Runtime
    from onestack.core import config
    from onestack.core.testing.process import ServerProcess

    with tempfile.TemporaryDirectory(prefix="onestack-bench-api-") as tmp:
        data = Path(tmp) / "data"
        server = ServerProcess(data, log_path=Path(tmp) / "server.log", env={
            "ONESTACK_COMPUTE_DRIVER": "container", "ONESTACK_NETWORK_DRIVER": "fake",
            "ONESTACK_SERVER_LOG_REQUESTS": "false", "ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4"})
        settings = config.load(env={}, data_dir=str(data))
        server.start(timeout=120)
        try:
            conn = openstack.connection.Connection(config=openstack.config.OpenStackConfig(
                config_files=[str(server.clouds_yaml)]).get_one("onestack"))
            conn.set_compute_quotas(conn.current_project_id, instances=10 * n, cores=10 * n, ram=1024 * n)
            conn.compute.delete_server(api_boot(conn, "bench-warm")[1])  # image download into the host cache
            rss0 = rss_kb(server.pid)
            seq = [api_boot(conn, f"bench-s{i}") for i in range(n)]
            print(f"API->ACTIVE sequential n={n:<3} p50 {statistics.median([r[0] for r in seq]):.3f}s "
                  f"p95 {pct([r[0] for r in seq], 95):.3f}s | onestack RSS +{(rss_kb(server.pid) - rss0) / n:.0f} kB "
                  f"per server")
            delete_all(conn, [r[1] for r in seq])
            with ThreadPoolExecutor(n) as pool:
                par = list(pool.map(lambda i: api_boot(conn, f"bench-p{i}"), range(n)))
            print(f"API->ACTIVE parallel   n={n:<3} p50 {statistics.median([r[0] for r in par]):.3f}s "
                  f"p95 {pct([r[0] for r in par], 95):.3f}s")
            delete_all(conn, [r[1] for r in par])
        finally:
            server.stop(timeout=30)
            rt = Runtime(Path(container_state_dir(settings)) / "guests", container_prefix(settings))
            for name in rt.names():
                rt.destroy(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--no-api", dest="api", action="store_false", help="only the driver figures")
    args = ap.parse_args()
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
            seq = [boot_one(driver, image) for _ in range(args.n)]
            report("sequential", seq, driver)
            for _, _, uid in seq:
                driver.destroy(uid)
            with ThreadPoolExecutor(args.parallel) as pool:
                par = list(pool.map(lambda _: boot_one(driver, image), range(args.n)))
            report(f"parallel x{args.parallel}", par, driver)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.parallel) as pool:
                list(pool.map(driver.destroy, [r[2] for r in par]))
            print(f"destroy {args.n} guests: {time.perf_counter() - t0:.3f}s")
        finally:
            for uid in driver.list_guests():
                driver.destroy(uid)
            driver.cache.clear()
    if args.api:
        api_bench(args.n)


if __name__ == "__main__":
    main()
