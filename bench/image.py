"""Image data benchmark: starts the real server and prints figures (never a timed test).

    .venv/bin/python bench/image.py [--size-mib 1024] [--small-mib 128] [--dir DIR]

Against ``onestack up`` on a fresh data dir under ``--dir`` (fake network driver; images need no
data plane): uploads (PUT /v2/images/{id}/file, Content-Length) and downloads (GET .../file) a file
of ``--size-mib`` and prints MB/s next to a plain ``cp`` of the same file on the same filesystem in
the same run (and ``cp`` followed by an fsync of the copy: the store fsyncs before an image turns
active), the server's resident memory sampled every 10 ms during each upload -- for a small and the
big image, to show it does not grow with the image size -- and the load average.

The client is a raw socket sending the file with ``sendfile`` and reading into one buffer, so the
figures are the server's.  Upload does what ``cp`` does not: md5 and sha512 of every byte
(upstream's checksum and os_hash_value), format inspection and an fsync.  On a shared machine wall
times follow the load, so the server's CPU seconds per GiB are printed too, with the rate they allow
on this machine's cores when nothing else runs (``cpu-bound``: CPU time spread over the cores, but
never faster than md5 alone on one core, the longest serial stage).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
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
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request(method, path, body, {"X-Auth-Token": tok, **(headers or {})})
    resp = conn.getresponse()
    return resp.status, resp.read()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("connection closed before the response head")
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def raw_put(port: int, path: str, tok: str, src: Path) -> int:
    """PUT the file with sendfile(2): the client copies nothing through user space."""
    size = src.stat().st_size
    with socket.create_connection(("127.0.0.1", port)) as sock, open(src, "rb") as fh:
        sock.sendall((f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {tok}\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n").encode())
        sock.sendfile(fh)
        status, _headers, _rest = _read_head(sock)
        return status


def raw_get(port: int, path: str, tok: str) -> int:
    """GET into one reused buffer; returns the number of body bytes."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {tok}\r\n\r\n".encode())
        status, headers, rest = _read_head(sock)
        assert status == 200, status
        length = int(headers["content-length"])
        got = len(rest)
        buf = bytearray(4 * MIB)
        while got < length:
            n = sock.recv_into(buf)
            if not n:
                break
            got += n
        return got


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
    path = f"/image/v2/images/{image_id}/file"
    cpu = cpu_seconds(server.pid)
    with RssSampler(server.pid) as rss:
        started = time.perf_counter()
        status = raw_put(server.port, path, tok, src)
        upload_s = time.perf_counter() - started
    assert status == 204, status
    upload_cpu = cpu_seconds(server.pid) - cpu
    cpu = cpu_seconds(server.pid)
    started = time.perf_counter()
    got = raw_get(server.port, path, tok)
    download_s = time.perf_counter() - started
    download_cpu = cpu_seconds(server.pid) - cpu
    assert got == size, (got, size)
    call(server, tok, "DELETE", f"/image/v2/images/{image_id}")
    return {"upload_s": upload_s, "download_s": download_s, "upload_cpu": upload_cpu,
            "download_cpu": download_cpu, "rss_before": rss.samples[0], "rss_peak": max(rss.samples)}


def hash_speed() -> dict[str, float]:
    """MB per CPU second of one core (CPU time, so the load of the machine matters little)."""
    data = os.urandom(64 * MIB)
    out = {}
    for name in ("md5", "sha512"):
        h = hashlib.new(name)
        started = time.thread_time()
        for _ in range(4):
            h.update(data)
        out[name] = 4 * 64 * MIB / 1e6 / (time.thread_time() - started)
    return out


def bound(mb: float, cpu: float, cores: int, serial_mbps: float | None = None) -> float:
    """MB/s if ``cpu`` seconds spread over every core, but no faster than the serial stage."""
    wall = cpu / cores
    if serial_mbps:
        wall = max(wall, mb / serial_mbps)
    return mb / wall


def copy(src: Path, dst: Path, sync: bool) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if sync:
        subprocess.run(["sync", str(dst)], check=True)  # fsync of that one file
    elapsed = time.perf_counter() - started
    dst.unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small-mib", type=int, default=128)
    parser.add_argument("--dir", help="where the data dir and test files go (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="onestack-bench-image-", dir=args.dir))
    server = ServerProcess(base / "data", env={"ONESTACK_NETWORK_DRIVER": "fake"}, log_path=base / "server.log")
    cores = os.cpu_count() or 1
    try:
        server.start()
        tok = token(server)
        speeds = hash_speed()
        print(f"machine: {cores} CPUs; md5 {speeds['md5']:.0f} MB, sha512 {speeds['sha512']:.0f} MB per CPU "
              f"second; files under {base}")
        print(f"{'image':>9} {'cp':>6} {'cp+sync':>8} {'upload':>7} {'download':>9}   {'upload cpu':>17} "
              f"{'download cpu':>19}   {'RSS before/peak':>16}  load")
        print(f"{'':>9} {'MB/s':>6} {'MB/s':>8} {'MB/s':>7} {'MB/s':>9}   {'s/GiB cpu-bound':>17} "
              f"{'s/GiB cpu-bound':>19}   {'MiB':>16}")
        for size_mib in (args.small_mib, args.size_mib):
            src = base / f"src-{size_mib}.img"
            make_file(src, size_mib)
            load = os.getloadavg()[0]
            cp_s = copy(src, base / f"cp-{size_mib}.img", sync=False)
            cp_sync_s = copy(src, base / f"cp-{size_mib}.img", sync=True)
            r = round_trip(server, tok, src)
            load = max(load, os.getloadavg()[0])
            mb = size_mib * MIB / 1e6
            gib = size_mib / 1024

            print(f"{size_mib:>5} MiB {mb / cp_s:>6.0f} {mb / cp_sync_s:>8.0f} {mb / r['upload_s']:>7.0f} "
                  f"{mb / r['download_s']:>9.0f}   {r['upload_cpu'] / gib:>6.2f} "
                  f"{bound(mb, r['upload_cpu'], cores, speeds['md5']):>5.0f} MB/s "
                  f"{r['download_cpu'] / gib:>8.2f} {bound(mb, r['download_cpu'], cores):>5.0f} MB/s   "
                  f"{r['rss_before'] / MIB:>7.0f} / {r['rss_peak'] / MIB:<5.0f}  {load:.1f}")
            src.unlink()
        return 0
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
