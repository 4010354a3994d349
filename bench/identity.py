"""Identity benchmark: starts the real server and prints figures (never a timed test).

    .venv/bin/python bench/identity.py [--duration 5] [--tokens 500] [--concurrency 1,8]

Measures, against ``onestack up`` on a fresh data dir with bcrypt cost 12 (as upstream):
token validate over many distinct tokens (GET /v3/auth/tokens), token issue by password and by the
token method (POST /v3/auth/tokens), GET /v3/projects -- requests/s, p50 and p99 at each
concurrency -- plus idle and loaded RSS of the server process and start-up time to the first 200
(on a fresh and on an existing data dir).  The load generator is a small keep-alive HTTP/1.1 client
on asyncio (one connection per concurrent caller), so its own overhead stays low.  Every rate is
printed with the server's and the client's CPU time per request and next to a baseline measured in
the same run (the smallest ASGI app on the same server stack): on a machine shared with other work
the rates move with the load, the CPU per request much less.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from onestack.core.testing.process import ServerProcess

IDENTITY = "/identity/v3"


# -- a minimal HTTP/1.1 keep-alive client -------------------------------------------------------


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


@dataclass
class Result:
    name: str
    concurrency: int
    count: int
    errors: int
    seconds: float
    latencies: list[float]
    server_cpu: float = 0.0  # CPU seconds the server process used during the measurement
    client_cpu: float = 0.0  # CPU seconds this (load generator) process used

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        per = 1e6 / self.count if self.count else float("nan")
        return (f"{self.name:<34} c={self.concurrency:<2} {self.rps:>9.1f} req/s   p50 {self.pct(0.5):>8.2f} ms   "
                f"p99 {self.pct(0.99):>8.2f} ms   CPU/req server {self.server_cpu * per:>5.0f} us "
                f"client {self.client_cpu * per:>4.0f} us   ({self.count} requests, {self.errors} errors)")


async def _load(port: int, requests, concurrency: int, duration: float, expect: int,
                max_requests: int | None = None) -> tuple[int, int, float, list[float]]:
    latencies: list[float] = []
    errors = 0
    count = 0
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal errors, count
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                if max_requests is not None and count >= max_requests:
                    return
                count += 1
                req = next(requests)
                t0 = time.perf_counter()
                writer.write(req)
                status, _body = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != expect:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), errors, time.perf_counter() - started, latencies


def measure(name: str, server_pid: int, port: int, requests, concurrency: int, duration: float, expect: int,
            max_requests: int | None = None) -> Result:
    server0, client0 = cpu_seconds(server_pid), time.process_time()
    count, errors, seconds, latencies = asyncio.run(
        _load(port, requests, concurrency, duration, expect, max_requests))
    return Result(name, concurrency, count, errors, seconds, latencies,
                  cpu_seconds(server_pid) - server0, time.process_time() - client0)


# -- a baseline: what this machine serves right now ---------------------------------------------

# The smallest ASGI app on the same server stack (uvicorn with httptools and uvloop), answering every
# request with a body of a validation's size: its rate, measured in the same run, shows what the
# machine's load leaves for any Python web server; onestack's figures read relative to it.
BASELINE_APP = """
import sys, uvicorn
BODY = b"x" * 4700
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json"), (b"content-length", b"4700")]}
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send(START)
        await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
"""


def baseline(duration: float) -> Result:
    from onestack.core.testing.process import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        request = request_bytes("GET", IDENTITY + "/auth/tokens", {"X-Auth-Token": "x" * 180,
                                                                    "X-Subject-Token": "y" * 180})
        return measure("baseline: minimal ASGI app", proc.pid, port, itertools.repeat(request), 8, duration, 200)
    finally:
        proc.terminate()
        proc.wait(10)


# -- the server and its data ------------------------------------------------------------------------


def rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time a process used so far (user + system): start-up cost independent of machine load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(base: str, path: str, body: dict, token: str | None = None) -> tuple:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.headers, json.load(resp)


def password_body(password: str) -> dict:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}


def token_body(token: str, project_id: str) -> dict:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"project": {"id": project_id}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="onestack identity benchmark")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--tokens", type=int, default=500, help="distinct tokens to validate")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--only", help="comma-separated subset: validate,password,token,projects")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    only = set(args.only.split(",")) if args.only else {"validate", "password", "token", "projects"}
    env = {"ONESTACK_IDENTITY_BCRYPT_ROUNDS": str(args.bcrypt_rounds), "ONESTACK_NETWORK_DRIVER": "fake",
           "ONESTACK_COMPUTE_DRIVER": "fake"}

    with tempfile.TemporaryDirectory(prefix="onestack-bench-") as tmp:
        server = ServerProcess(Path(tmp) / "data", env=env, log_path=Path(tmp) / "server.log")
        server.start()
        fresh_startup, fresh_cpu = server.startup_seconds, cpu_seconds(server.pid)
        server.restart()  # start-up on an existing data dir: what every later start costs
        rerun_startup, rerun_cpu = server.startup_seconds, cpu_seconds(server.pid)
        try:
            # Ready means identity answers; the other services finish starting in the background.  A
            # request for one of them waits until they are all up: idle RSS is measured after that.
            urllib.request.urlopen(server.base_url + "/compute/v2.1", timeout=120).close()
            time.sleep(1.0)
            idle_rss, _ = rss_mib(server.pid)
            print(f"onestack identity benchmark  (pid {server.pid}, {os.cpu_count()} CPUs, bcrypt cost "
                  f"{args.bcrypt_rounds}, {args.duration:.0f} s per figure)")
            print(f"start-up to first 200: {fresh_startup * 1000:.0f} ms on a fresh data dir, "
                  f"{rerun_startup * 1000:.0f} ms on an existing one (CPU time used: {fresh_cpu * 1000:.0f} ms "
                  f"and {rerun_cpu * 1000:.0f} ms; wall time exceeds it when other processes compete)")
            print(f"RSS idle: {idle_rss:.1f} MiB")
            load = os.getloadavg()
            print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (other processes share the "
                  f"{os.cpu_count()} CPUs: read rates next to the baseline, CPU per request is steadier)")
            base = baseline(args.duration)
            print(base.line(), flush=True)
            results = run_all(server, args, levels, only)
            rss, peak = rss_mib(server.pid)
            print(f"RSS loaded: {rss:.1f} MiB (peak {peak:.1f} MiB)")
            for result in results:
                if result.concurrency == max(levels) and result.count and result.server_cpu and base.rps:
                    print(f"{result.name:<34} {result.rps / base.rps:6.2f}x the baseline's rate; "
                          f"{1e6 / (result.server_cpu * 1e6 / result.count):7.0f} req/s if the server had a core "
                          f"to itself ({result.server_cpu * 1e6 / result.count:.0f} us CPU each)")
        finally:
            server.stop()
    return 0 if all(r.errors == 0 for r in results) else 1


def run_all(server: ServerProcess, args, levels: list[int], only: set[str]) -> list[Result]:
    base, port, pid = server.base_url, server.port, server.pid
    password = yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["onestack"]["auth"]["password"]
    headers, body = post(base, IDENTITY + "/auth/tokens", password_body(password))
    admin = headers["X-Subject-Token"]
    project_id = body["token"]["project"]["id"]
    results: list[Result] = []

    def report(result: Result) -> None:
        results.append(result)
        print(result.line(), flush=True)

    if "validate" in only:
        tokens: list[str] = []
        for _ in range(args.tokens):  # distinct tokens (own audit ids), via the cheap token method
            h, _b = post(base, IDENTITY + "/auth/tokens?nocatalog", token_body(admin, project_id))
            tokens.append(h["X-Subject-Token"])
        validate = [request_bytes("GET", IDENTITY + "/auth/tokens", {"X-Auth-Token": admin, "X-Subject-Token": t})
                    for t in tokens]
        report(measure(f"validate, first sight ({len(tokens)} tok)", pid, port, iter(validate), 8, 60.0, 200,
                       max_requests=len(validate)))
        for c in levels:
            report(measure(f"validate ({len(tokens)} distinct tokens)", pid, port, itertools.cycle(validate), c,
                           args.duration, 200))
    if "projects" in only:
        projects = request_bytes("GET", IDENTITY + "/projects", {"X-Auth-Token": admin})
        for c in levels:
            report(measure("GET /v3/projects", pid, port, itertools.repeat(projects), c, args.duration, 200))
    if "token" in only:
        by_token = request_bytes("POST", IDENTITY + "/auth/tokens", {},
                                 json.dumps(token_body(admin, project_id)).encode())
        for c in levels:
            report(measure("issue, token method", pid, port, itertools.repeat(by_token), c, args.duration, 201))
    if "password" in only:
        by_password = request_bytes("POST", IDENTITY + "/auth/tokens", {},
                                    json.dumps(password_body(password)).encode())
        for c in levels:
            report(measure("issue, password method", pid, port, itertools.repeat(by_password), c, args.duration, 201))
    return results


if __name__ == "__main__":
    sys.exit(main())
