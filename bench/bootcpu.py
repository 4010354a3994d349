"""CPU per server boot and delete in the ``onestack up`` process, with networking (prints figures, never a test).

    .venv/bin/python bench/bootcpu.py [--rounds 5] [--burst 20] [--hosts 1]

The whole cloud runs in this process on a fresh SQLite data dir with the fake guest and network drivers
(no kernel data plane), served on a loopback port.  Each round POSTs ``--burst`` servers at once on one
tenant network (a port each), waits until all are ACTIVE, then DELETEs them all at once and waits until
they are gone.  Prints, per boot and per delete, this process's CPU ms (process time, not wall: the
machine is shared) and the part of it each reconciler's worker threads spent (compute agent, scheduler,
network agent), the API's handlers, and the rest (the HTTP server, the bench's HTTP client and polls, ...).
The first round warms up and is left out.  ``BOOTCPU_SQL=file`` writes every SQL statement with its
thread; ``BOOTCPU_PROFILE=dir`` profiles each part (CPU time) into ``dir/<part>.prof``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from onestack import migrations  # noqa: E402
from onestack.app import build  # noqa: E402
from onestack.compute.model import Instance  # noqa: E402
from onestack.core import config, http  # noqa: E402
from onestack.core.testing.inprocess import Served, admin_login, public_image  # noqa: E402
from onestack.core.testing.process import free_port  # noqa: E402

C = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.100"}


def _count(cpu: dict[str, float], lock: threading.Lock, name: str, fn, profiles: dict | None = None):
    def timed(key):
        prof = cProfile.Profile(time.thread_time) if profiles is not None else None
        t0 = time.thread_time()
        try:
            if prof is not None:
                return prof.runcall(fn, key)
            return fn(key)
        finally:
            with lock:
                cpu[name] += time.thread_time() - t0
                if prof is not None:
                    prof.create_stats()
                    if name in profiles:
                        profiles[name].add(prof)
                    else:
                        profiles[name] = pstats.Stats(prof)
    return timed



def add(total: list, wall: float, used: float, parts: dict, sql: dict) -> None:
    """Sum a phase's figures into ``total`` ([wall, CPU, CPU by part, SQL statements by part])."""
    total[0] += wall
    total[1] += used
    for k, v in parts.items():
        total[2][k] += v
    for k, v in sql.items():
        total[3][k] += v

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(threadName)s %(levelname)s %(name)s: %(message)s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    tmp = tempfile.mkdtemp(prefix="bench-bootcpu-")
    port = free_port()
    settings = config.load(env={}, data_dir=tmp, server={"listen": f"127.0.0.1:{port}", "log_requests": False},
                           identity={"bcrypt_rounds": 4},
                           compute={"host": "bench", "fake_hosts": args.hosts, "driver": "fake"},
                           network={"driver": "fake", "host": "bench"})
    cloud = build(settings)
    migrations.upgrade(cloud.engine)
    passwords = cloud.bootstrap()
    cpu: dict[str, float] = defaultdict(float)
    # BOOTCPU_PROFILE=dir: each reconciler's calls under cProfile (slower), stats in dir/<agent>.prof
    profiles: dict | None = {} if os.environ.get("BOOTCPU_PROFILE") else None
    lock = threading.Lock()
    statements: dict[str, int] = defaultdict(int)
    dump = open(os.environ["BOOTCPU_SQL"], "w") if os.environ.get("BOOTCPU_SQL") else None  # noqa: SIM115

    @event.listens_for(cloud.engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany):
        name = threading.current_thread().name
        part = name.split("-worker")[0] if "-worker" in name else "rest"
        statements[part] += 1
        if dump is not None:
            dump.write(f"{name}\t{' '.join(statement.split())[:300]}\n")
    for agent in cloud.agents:
        for reconciler in agent.reconcilers.values():
            part = "scheduler" if agent.name == "compute-scheduler" else agent.name.split("-")[0]
            reconciler.reconcile = _count(cpu, lock, part, reconciler.reconcile, profiles)
    # the API's handlers (run in the server's thread pool) count as "api"
    original = http.run_in_threadpool

    async def run_in_threadpool(fn, *a, **kw):
        if getattr(fn, "__module__", "").startswith("onestack.") and fn.__name__ != "authenticate":
            return await original(_count(cpu, lock, "api", lambda req: fn(req), profiles), *a, **kw)
        return await original(fn, *a, **kw)

    http.run_in_threadpool = run_in_threadpool
    cloud.start_agents()
    gc.collect()
    gc.freeze()
    served = Served(cloud.asgi, port)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                          limits=httpx.Limits(max_connections=args.burst + 4))
    token, project_id = admin_login(client, passwords["admin"])
    headers = {"X-Auth-Token": token, **MV}
    client.put(f"{C}/os-quota-sets/{project_id}", headers=headers,
               json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    net = client.post("/network/v2.0/networks", headers=headers, json={"network": {"name": "bench"}}).json()
    net_id = net["network"]["id"]
    r = client.post("/network/v2.0/subnets", headers=headers, json={"subnet": {
        "network_id": net_id, "cidr": "10.77.0.0/16", "ip_version": 4}})
    assert r.status_code == 201, r.text
    image_ref = public_image(client, headers)

    def boot(i: int) -> str:
        r = client.post(f"{C}/servers", headers=headers, json={"server": {
            "name": f"bench-{i}", "imageRef": image_ref, "flavorRef": "c1", "networks": [{"uuid": net_id}]}})
        assert r.status_code == 202, r.text
        return r.json()["server"]["id"]

    def delete(sid: str) -> None:
        r = client.delete(f"{C}/servers/{sid}", headers=headers)
        assert r.status_code == 204, r.text

    def wait(ids: list[str], gone: bool) -> None:
        pending = set(ids)
        while pending:
            with cloud.uow() as uow:
                if gone:
                    done = set(uow.session.scalars(select(Instance.id).where(
                        Instance.id.in_(list(pending)), Instance.deleted.is_(True))))
                else:
                    done = set(uow.session.scalars(select(Instance.id).where(
                        Instance.id.in_(list(pending)), Instance.vm_state.in_(("active", "error")),
                        Instance.task_state.is_(None))))
            pending -= done
            if pending:
                time.sleep(0.05)

    def phase(fn, items):
        before = dict(cpu)
        before_sql = dict(statements)
        t0, c0 = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(args.burst) as pool:
            out = list(pool.map(fn, items))
        wait(out if fn is boot else list(items), gone=fn is delete)
        # the agents' last writes may finish a moment after the rows show done
        time.sleep(0.3)
        parts = {k: cpu[k] - before.get(k, 0.0) for k in cpu}
        sql = {k: statements[k] - before_sql.get(k, 0) for k in statements}
        return out, time.perf_counter() - t0, time.process_time() - c0, parts, sql

    totals = {"boot": [0.0, 0.0, defaultdict(float), defaultdict(int)],
              "delete": [0.0, 0.0, defaultdict(float), defaultdict(int)]}
    errors = 0
    for rnd in range(args.rounds):
        ids, wall, used, parts, sql = phase(boot, range(args.burst))
        with cloud.uow() as uow:
            errors += uow.session.scalar(select(func.count()).select_from(Instance).where(
                Instance.id.in_(ids), Instance.vm_state == "error"))
        if rnd:  # the first round warms up
            add(totals["boot"], wall, used, parts, sql)
        if rnd == args.rounds - 1:  # what a poller's GET /servers/detail costs with the burst's servers
            before, c0 = cpu.get("api", 0.0), time.process_time()
            for _ in range(50):
                assert client.get(f"{C}/servers/detail", headers=headers).status_code == 200
            detail = ((cpu["api"] - before) * 1000 / 50, (time.process_time() - c0) * 1000 / 50)
        _, wall, used, parts, sql = phase(delete, ids)
        if rnd:
            add(totals["delete"], wall, used, parts, sql)
    n = args.burst * max(args.rounds - 1, 1)
    print(f"{args.rounds - 1} measured rounds of {args.burst} servers at once on {args.hosts} host(s) "
          f"({errors} in ERROR)")
    for name, (wall, used, parts, sql) in totals.items():
        rest = used - sum(parts.values())
        shown = ", ".join(f"{k} {v * 1000 / n:.1f}" for k, v in sorted(parts.items()) if v)
        print(f"  {name}: CPU {used * 1000 / n:.1f} ms per server ({shown}, rest {rest * 1000 / n:.1f}); "
              f"wall {wall * 1000 / n:.1f} ms per server")
        print(f"    SQL statements per server: {sum(sql.values()) / n:.1f} ("
              + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(sql.items()) if v) + ")")
    if args.rounds > 1:
        print(f"  GET /servers/detail with {args.burst} servers: CPU {detail[1]:.1f} ms per request "
              f"(the handler {detail[0]:.1f} ms)")
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, stats in (profiles or {}).items():
        stats.dump_stats(os.path.join(os.environ["BOOTCPU_PROFILE"], f"{name}.prof"))
    served.stop()
    cloud.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
