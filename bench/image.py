"""Image data benchmark: starts the real server and prints figures (never a timed test).

    .venv/bin/python bench/image.py [--size-mib 1024] [--small-mib 128] [--dir DIR]

Against ``onestack up`` on a fresh data dir (fake network driver; images need no data plane):
uploads (PUT /v2/images/{id}/file, Content-Length) and downloads (GET .../file) a file of
``--size-mib`` and prints MB/s next to a plain ``cp`` of the same file in the same run, and the
server's resident memory sampled every 10 ms during each upload -- for a small and the big image, to
show it does not grow with the image size.  Upload includes what ``cp`` does not: md5 and sha512 of
every byte (upstream's checksum and os_hash_value), format inspection and an fsync before the image
turns active; the md5/sha512 speed of this machine is printed too, since they bound the upload.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from onestack.core.testing.process import ServerProcess

MIB = 1 << 20


def token(server: ServerProcess) -> str:
    cloud = yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["onestack"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": cloud["username"], "domain": {"name": "Default"}, "password": cloud["password"]}}},
        "scope": {"project": {"name": cloud["project_name"], "domain": {"name": "Default"}}}}}
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("POST", "/identity/v3/auth/tokens", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.headers["X-Subject-Token"]


def call(server: ServerProcess, tok: str, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, blocksize=MIB)
    conn.request(method, path, body, {"X-Auth-Token": tok, **(headers or {})})
    resp = conn.getresponse()
    return resp.status, resp.read()


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._rss())
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self.samples.append(self._rss())
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(MIB)
    with open(path, "wb") as fh:
        for i in range(size_mib):
            fh.write(block[i % MIB:] + block[:i % MIB])


def round_trip(server: ServerProcess, tok: str, src: Path) -> dict:
    size = src.stat().st_size
    status, body = call(server, tok, "POST", "/image/v2/images", json.dumps(
        {"name": f"bench-{src.name}", "disk_format": "raw", "container_format": "bare"}),
        {"Content-Type": "application/json"})
    assert status == 201, body
    image_id = json.loads(body)["id"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, blocksize=MIB)
    with RssSampler(server.pid) as rss, open(src, "rb") as fh:
        started = time.perf_counter()
        conn.request("PUT", f"/image/v2/images/{image_id}/file", fh, {
            "X-Auth-Token": tok, "Content-Type": "application/octet-stream", "Content-Length": str(size)})
        resp = conn.getresponse()
        resp.read()
        upload_s = time.perf_counter() - started
    assert resp.status == 204, resp.status
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    started = time.perf_counter()
    conn.request("GET", f"/image/v2/images/{image_id}/file", headers={"X-Auth-Token": tok})
    resp = conn.getresponse()
    buf = bytearray(MIB)
    got = 0
    while n := resp.readinto(buf):
        got += n
    download_s = time.perf_counter() - started
    assert got == size, (got, size)
    call(server, tok, "DELETE", f"/image/v2/images/{image_id}")
    return {"upload_s": upload_s, "download_s": download_s, "rss_before": rss.samples[0],
            "rss_peak": max(rss.samples)}


def hash_speed() -> dict[str, float]:
    data = os.urandom(64 * MIB)
    out = {}
    for name in ("md5", "sha512"):
        h = hashlib.new(name)
        started = time.perf_counter()
        h.update(data)
        out[name] = 64 / (time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small-mib", type=int, default=128)
    parser.add_argument("--dir", help="where the data dir and test files go (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="onestack-bench-image-", dir=args.dir))
    server = ServerProcess(base / "data", env={"ONESTACK_NETWORK_DRIVER": "fake"}, log_path=base / "server.log")
    try:
        server.start()
        tok = token(server)
        speeds = hash_speed()
        print(f"machine: {os.cpu_count()} CPUs; md5 {speeds['md5']:.0f} MB/s, sha512 {speeds['sha512']:.0f} MB/s "
              f"(one core each; upload hashes both in parallel)")
        print(f"{'image':>10} {'cp MB/s':>9} {'upload MB/s':>12} {'download MB/s':>14} {'RSS before':>11} "
              f"{'RSS peak':>9}")
        for size_mib in (args.small_mib, args.size_mib):
            src = base / f"src-{size_mib}.img"
            make_file(src, size_mib)
            dst = base / f"cp-{size_mib}.img"
            started = time.perf_counter()
            subprocess.run(["cp", str(src), str(dst)], check=True)
            cp_s = time.perf_counter() - started
            dst.unlink()
            result = round_trip(server, tok, src)
            mb = size_mib * MIB / 1e6
            print(f"{size_mib:>7} MiB {mb / cp_s:>9.0f} {mb / result['upload_s']:>12.0f} "
                  f"{mb / result['download_s']:>14.0f} {result['rss_before'] / MIB:>8.0f} MiB "
                  f"{result['rss_peak'] / MIB:>5.0f} MiB")
            src.unlink()
        return 0
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
