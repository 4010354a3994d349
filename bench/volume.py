"""Block storage benchmark: starts the real server and prints figures (never a timed test).

    .venv/bin/python bench/volume.py [--volumes 30] [--io-mib 256]

Measures against ``onestack up`` on a fresh data dir (file driver, run as root):
- volume create -> ``available`` latency (POST /volumes, then polling GET every 2 ms): p50/p90/max
  for empty 1 GiB volumes, and for clones of a volume with data;
- loop attach/detach of a volume file (what a container attach costs on the host): p50;
- sequential write and read MB/s with O_DIRECT (dd, 1 MiB blocks) through the loop device next to the
  same on the volume's host file;
- with the container guest driver (root with lxc): attach -> visible in the guest p50 (POST
  os-volume_attachments until ``/dev/vdb`` exists inside the server, polled every 2 ms through the
  guest's /proc/<pid>/root), detach -> gone, and sequential write/read MB/s by ``dd`` inside the guest on /dev/vdb
  (wall time of the lxc-attach'ed dd minus that of an empty lxc-attach).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from onestack.compute.agent import container_prefix, container_state_dir
from onestack.core import config
from onestack.core.testing.process import ServerProcess
from onestack.volume.drivers.file import FileVolumeDriver

V3 = "/volume/v3"


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "X-Auth-Token": self.token, "Content-Type": "application/json",
            "OpenStack-API-Version": "volume 3.71, compute 2.100"})
        try:
            with urllib.request.urlopen(req) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


def login(base: str, clouds_yaml: Path) -> str:
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"]["onestack"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": auth["password"], "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    req = urllib.request.Request(base + "/identity/v3/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as resp:
        return resp.headers["X-Subject-Token"]


def wait_available(api: Api, volume_id: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        _, body = api.call("GET", f"{V3}/volumes/{volume_id}")
        status = body["volume"]["status"]
        if status == "available":
            return
        if status.startswith("error") or time.monotonic() > deadline:
            raise RuntimeError(f"volume {volume_id} is {status}")
        time.sleep(0.002)


def create_latencies(api: Api, count: int, **fields) -> tuple[list[float], list[str]]:
    times, ids = [], []
    for i in range(count):
        started = time.perf_counter()
        status, body = api.call("POST", f"{V3}/volumes", {"volume": {"size": 1, "name": f"bench-{i}", **fields}})
        if status != 202:
            raise RuntimeError(f"create failed: {status} {body}")
        wait_available(api, body["volume"]["id"])
        times.append((time.perf_counter() - started) * 1000)
        ids.append(body["volume"]["id"])
    return times, ids


def throughput(target: str, mib: int, write: bool) -> float:
    if write:
        cmd = ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "oflag=direct", "conv=notrunc,fsync"]
    else:
        cmd = ["dd", f"if={target}", "of=/dev/null", "bs=1M", f"count={mib}", "iflag=direct"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    m = re.search(r"copied, ([\d.]+) s", proc.stderr)
    seconds = float(m.group(1)) if m else elapsed
    return mib / seconds


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=30)
    parser.add_argument("--io-mib", type=int, default=256)
    parser.add_argument("--attaches", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the file driver's loop devices need it", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-volume-") as tmp:
        data = Path(tmp) / "data"
        containers = bool(shutil.which("lxc-start") and shutil.which("busybox"))
        server = ServerProcess(data, env={"ONESTACK_VOLUME_DRIVER": "file", "ONESTACK_NETWORK_DRIVER": "fake",
                                          "ONESTACK_SERVER_LOG_REQUESTS": "false",
                                          "ONESTACK_COMPUTE_DRIVER": "container" if containers else "fake"})
        server.start()
        try:
            api = Api(server.base_url, login(server.base_url, server.clouds_yaml))
            api.call("PUT", f"{V3}/os-quota-sets/{_project(api)}", {"quota_set": {
                "volumes": -1, "gigabytes": -1}})
            print("load average: {:.1f} {:.1f} {:.1f} on {} CPUs".format(*os.getloadavg(), os.cpu_count()))
            empty, ids = create_latencies(api, args.volumes)
            driver = FileVolumeDriver(data / "volumes")
            driver.write(ids[0], 0, os.urandom(4 << 20))
            clones, clone_ids = create_latencies(api, max(5, args.volumes // 3), source_volid=ids[0])
            print(f"volume create -> available, empty 1 GiB (n={len(empty)}): p50 {statistics.median(empty):.1f} ms"
                  f"  p90 {pct(empty, 90):.1f} ms  max {max(empty):.1f} ms   (upstream Cinder publishes ~2.6 s)")
            print(f"volume create -> available, clone of a 1 GiB volume (n={len(clones)}): "
                  f"p50 {statistics.median(clones):.1f} ms  p90 {pct(clones, 90):.1f} ms")

            attach_ms, detach_ms = [], []
            for vid in ids[:10]:
                started = time.perf_counter()
                driver.attach(vid, "loop")
                attach_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                driver.detach(vid)
                detach_ms.append((time.perf_counter() - started) * 1000)
            print(f"loop attach (losetup) p50 {statistics.median(attach_ms):.1f} ms, "
                  f"detach p50 {statistics.median(detach_ms):.1f} ms")

            vid = ids[1]
            host_file = str(driver.volume_path(vid))
            conn = driver.attach(vid, "loop")
            try:
                dev_w = throughput(conn.device, args.io_mib, True)
                dev_r = throughput(conn.device, args.io_mib, False)
            finally:
                driver.detach(vid)
            file_w = throughput(host_file, args.io_mib, True)
            file_r = throughput(host_file, args.io_mib, False)
            print(f"sequential {args.io_mib} MiB, 1 MiB blocks, O_DIRECT:")
            print(f"  through the loop device {conn.device}: write {dev_w:.0f} MB/s  read {dev_r:.0f} MB/s")
            print(f"  on the host file:                   write {file_w:.0f} MB/s  read {file_r:.0f} MB/s")
            if containers:
                in_guest(api, data, ids[2:2 + args.attaches], args.io_mib)
            else:
                print("attach -> visible in guest: skipped (needs lxc and busybox for the container driver)")
            for vid in ids + clone_ids:
                api.call("DELETE", f"{V3}/volumes/{vid}")
        finally:
            server.stop()
            for path in (data / "volumes").glob("*.img"):
                out = subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=False)
    return 0


def in_guest(api: Api, data: Path, volume_ids: list[str], mib: int) -> None:
    """A busybox server (container driver): attach -> /dev/vdb in the guest, and dd on it in there."""
    settings = config.load(env={}, data_dir=str(data))
    guests, name_prefix = Path(container_state_dir(settings)) / "guests", container_prefix(settings)
    _, images = api.call("GET", "/image/v2/images?name=busybox")
    status, body = api.call("POST", "/compute/v2.1/servers", {"server": {
        "name": "bench-vol", "imageRef": images["images"][0]["id"], "flavorRef": "c1", "networks": "none"}})
    if status != 202:
        raise RuntimeError(f"server create failed: {status} {body}")
    server_id = body["server"]["id"]
    while (s := api.call("GET", f"/compute/v2.1/servers/{server_id}")[1]["server"])["status"] != "ACTIVE":
        if s["status"] == "ERROR":
            raise RuntimeError(f"server failed: {s.get('fault')}")
        time.sleep(0.05)
    try:
        _measure_in_guest(api, server_id, guests, name_prefix + server_id, volume_ids, mib)
    finally:
        api.call("DELETE", f"/compute/v2.1/servers/{server_id}")
        deadline = time.monotonic() + 120
        while api.call("GET", f"/compute/v2.1/servers/{server_id}")[0] != 404 and time.monotonic() < deadline:
            time.sleep(0.05)


def _measure_in_guest(api: Api, server_id: str, guests: Path, name: str, volume_ids: list[str], mib: int) -> None:
    pid = subprocess.run(["lxc-info", "-P", str(guests), "-n", name, "-p", "-H"], capture_output=True,
                         text=True).stdout.strip()
    root = Path(f"/proc/{pid}/root")  # the guest's view of its files, read from the host (cheap to poll)

    def visible(device: str) -> bool:
        return os.path.exists(root / device.lstrip("/"))

    def guest(script: str) -> subprocess.CompletedProcess:
        return subprocess.run(["lxc-attach", "-P", str(guests), "-n", name, "--clear-env", "--", "/bin/sh", "-c",
                               script], capture_output=True, text=True, timeout=600)

    attach_ms, detach_ms = [], []
    url = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
    for vid in volume_ids:
        started = time.perf_counter()
        status, body = api.call("POST", url, {"volumeAttachment": {"volumeId": vid}})
        if status != 200:
            raise RuntimeError(f"attach failed: {status} {body}")
        device = body["volumeAttachment"]["device"]
        while not visible(device):
            time.sleep(0.002)
        attach_ms.append((time.perf_counter() - started) * 1000)
        wait_in_use(api, vid)
        started = time.perf_counter()
        status, body = api.call("DELETE", f"{url}/{vid}")
        if status != 202:
            raise RuntimeError(f"detach failed: {status} {body}")
        while visible(device):
            time.sleep(0.002)
        detach_ms.append((time.perf_counter() - started) * 1000)
        wait_available(api, vid)
    print(f"attach -> /dev/vdb visible in the guest (container driver, n={len(attach_ms)}): "
          f"p50 {statistics.median(attach_ms):.0f} ms  max {max(attach_ms):.0f} ms; "
          f"detach -> gone p50 {statistics.median(detach_ms):.0f} ms")

    vid = volume_ids[0]
    device = api.call("POST", url, {"volumeAttachment": {"volumeId": vid}})[1]["volumeAttachment"]["device"]
    while guest(f"test -b {device}").returncode != 0:
        time.sleep(0.005)
    empty = min(_timed(lambda: guest("true")) for _ in range(5))
    w = _timed(lambda: guest(f"dd if=/dev/zero of={device} bs=1M count={mib} oflag=direct conv=fsync")) - empty
    r = _timed(lambda: guest(f"dd if={device} of=/dev/null bs=1M count={mib} iflag=direct")) - empty
    print(f"  inside the guest on {device} ({mib} MiB, busybox dd): write {mib / w:.0f} MB/s  read {mib / r:.0f} MB/s")
    api.call("DELETE", f"{url}/{vid}")
    wait_available(api, vid)


def _timed(fn) -> float:
    started = time.perf_counter()
    proc = fn()
    if proc.returncode != 0:
        raise RuntimeError(f"in the guest: {proc.stderr.strip()}")
    return time.perf_counter() - started


def wait_in_use(api: Api, volume_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while api.call("GET", f"{V3}/volumes/{volume_id}")[1]["volume"]["status"] != "in-use":
        if time.monotonic() > deadline:
            raise RuntimeError(f"volume {volume_id} did not become in-use")
        time.sleep(0.005)


def _project(api: Api) -> str:
    req = urllib.request.Request(api.base + "/identity/v3/auth/tokens", headers={
        "X-Auth-Token": api.token, "X-Subject-Token": api.token})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["token"]["project"]["id"]


if __name__ == "__main__":
    sys.exit(main())
