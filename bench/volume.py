"""Block storage benchmark: starts the real server and prints figures (never a timed test).

    .venv/bin/python bench/volume.py [--volumes 30] [--io-mib 256]

Measures against ``onestack up`` on a fresh data dir (file driver, run as root):
- volume create -> ``available`` latency (POST /volumes, then polling GET every 2 ms): p50/p90/max
  for empty 1 GiB volumes, and for clones of a volume with data;
- loop attach/detach of a volume file (what a container attach costs on the host): p50;
- sequential write and read MB/s with O_DIRECT (dd, 1 MiB blocks) through the loop device next to the
  same on the volume's host file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

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
            "OpenStack-API-Version": "volume 3.71"})
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
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the file driver's loop devices need it", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-volume-") as tmp:
        data = Path(tmp) / "data"
        server = ServerProcess(data, env={"ONESTACK_VOLUME_DRIVER": "file", "ONESTACK_NETWORK_DRIVER": "fake",
                                          "ONESTACK_SERVER_LOG_REQUESTS": "false"})
        server.start()
        try:
            api = Api(server.base_url, login(server.base_url, server.clouds_yaml))
            api.call("PUT", f"{V3}/os-quota-sets/{_project(api)}", {"quota_set": {
                "volumes": -1, "gigabytes": -1}})
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
                  f"detach p50 {statistics.median(detach_ms):.1f} ms  (attach->visible-in-guest needs compute: "
                  "see bench/boot.py)")

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
            for vid in ids + clone_ids:
                api.call("DELETE", f"{V3}/volumes/{vid}")
        finally:
            server.stop()
            for path in (data / "volumes").glob("*.img"):
                out = subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=False)
    return 0


def _project(api: Api) -> str:
    req = urllib.request.Request(api.base + "/identity/v3/auth/tokens", headers={
        "X-Auth-Token": api.token, "X-Subject-Token": api.token})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["token"]["project"]["id"]


if __name__ == "__main__":
    sys.exit(main())
