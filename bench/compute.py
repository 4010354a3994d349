"""Compute control-plane benchmark: prints figures (never a timed test).

    .venv/bin/python bench/compute.py [--hosts 1000] [--boots 2000] [--concurrency 16] [--rows 10000]
    .venv/bin/python bench/compute.py --quick     # 1,000 hosts, 300 boots, 3,000 rows
    .venv/bin/python bench/compute.py --topology split-scheduler   # the scheduler in its own process

Topologies (printed with the figures):

- ``all-in-one``: the whole cloud in this process on a fresh SQLite data dir (``onestack up``);
- ``split-scheduler``: the scale-out shape on a throwaway PostgreSQL (or ``--database mariadb``)
  database and RabbitMQ vhost: the API and the compute agent in this process, the scheduler in a
  child process built as ``onestack agent --role scheduler`` builds it.

The fake guest driver simulates ``--hosts`` compute hosts (each reporting its provider and inventory
to placement); the API is served on a loopback port with uvicorn, and ``--boots`` servers are booted
through HTTP with ``--concurrency`` callers.  Prints boots/s (first POST to last ACTIVE), API->ACTIVE p50/p99 (server
created_at to launched_at), the scheduler's decision time p50/p99 (candidates + filters + weighers +
claim), then pads the database to ``--rows`` servers and times ``GET /servers/detail?limit=1000``.
Targets on a 2-core machine: >= 50 boots/s, scheduling <= 20 ms p99 at 1,000 hosts, list <= 300 ms.

Wall-clock figures depend on what else the machine runs, so the load average is printed with them,
and so are CPU figures that do not: CPU ms of this process per boot (API, scheduler, agent and the
HTTP client all run here, and the scheduler unless split out), CPU ms per scheduler decision (and of
the scheduler process per boot when split out), CPU ms per list request.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from onestack import migrations  # noqa: E402
from onestack.app import build  # noqa: E402
from onestack.compute.agent import InstanceReconciler, build_agents  # noqa: E402
from onestack.compute.model import Instance  # noqa: E402
from onestack.compute.scheduler import Scheduler  # noqa: E402
from onestack.core import config  # noqa: E402
from onestack.core.testing import rabbit  # noqa: E402
from onestack.core.testing.databases import throwaway_database  # noqa: E402
from onestack.core.testing.inprocess import Served, admin_login, public_image  # noqa: E402
from onestack.core.testing.process import free_port  # noqa: E402

C = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.100"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _settings(tmp: str, port: int, hosts: int, database_url: str = "", bus_url: str = ""):
    return config.load(env={}, data_dir=tmp, server={"listen": f"127.0.0.1:{port}", "log_requests": False},
                       identity={"bcrypt_rounds": 4}, database={"url": database_url}, bus={"url": bus_url},
                       compute={"host": "bench", "fake_hosts": hosts, "driver": "fake"},
                       network={"driver": "fake"})  # no kernel data plane: servers boot with networks none


def run_scheduler(tmp: str, port: int, hosts: int, database_url: str, bus_url: str, workers: int, conn) -> None:
    """The child process of ``split-scheduler``: what ``onestack agent --role scheduler`` runs, until the
    parent says stop; then sends back the decisions' figures and this process's CPU seconds."""
    settings = _settings(tmp, port, hosts, database_url, bus_url)
    cloud = build(settings)
    agents = build_agents(settings, cloud.uow, cloud.bus, cloud.clients, compute=False, scheduler=True,
                          workers=workers)
    scheduler = next(r for a in agents for r in a.reconcilers.values() if isinstance(r, Scheduler))
    gc.collect()
    gc.freeze()  # as `onestack agent` does after start-up
    for item in agents:
        item.start()
    cloud.bus.wait_ready()
    conn.send("ready")
    conn.recv()  # "mark": the boots start
    for figures in (scheduler.decisions, scheduler.selections, scheduler.cpu, scheduler.runqueue):
        figures.clear()
    cpu = time.process_time()
    conn.recv()  # "stop"
    conn.send({"decisions": list(scheduler.decisions), "selections": list(scheduler.selections),
               "cpu": list(scheduler.cpu), "runqueue": list(scheduler.runqueue),
               "process_cpu": time.process_time() - cpu})
    for item in agents:
        item.stop()
    cloud.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--boots", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=8, help="reconcile workers of the scheduler and agent")
    parser.add_argument("--quick", action="store_true", help="300 boots, 3,000 rows (same 1,000 hosts)")
    parser.add_argument("--topology", choices=("all-in-one", "split-scheduler"), default="all-in-one")
    parser.add_argument("--scheduler-workers", type=int, default=1,
                        help="reconcile workers of the split-out scheduler (`onestack agent --role scheduler "
                             "--workers N`): decisions are CPU-bound on one interpreter, so more threads add GIL "
                             "waits to each decision; scheduler processes scale out instead")
    parser.add_argument("--database", choices=("postgresql", "mariadb"), default="postgresql",
                        help="the shared database of split-scheduler")
    args = parser.parse_args()
    if args.quick:
        args.boots, args.rows = min(args.boots, 300), min(args.rows, 3000)
    split = args.topology == "split-scheduler"
    print(f"topology {args.topology}: " + (
        f"API + compute agent in this process, scheduler in its own ({args.scheduler_workers} worker(s)), "
        f"{args.database} + RabbitMQ" if split
        else "everything in this process, SQLite WAL"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(throwaway_database(args.database)) if split else ""
        bus_url = stack.enter_context(rabbit.throwaway_vhost()) if split else ""
        run(args, database_url, bus_url)


def run(args, database_url: str, bus_url: str) -> None:
    split = bool(database_url)
    tmp = tempfile.mkdtemp(prefix="bench-compute-")
    port = free_port()
    settings = _settings(tmp, port, args.hosts, database_url, bus_url)
    cloud = build(settings)
    migrations.upgrade(cloud.engine)
    passwords = cloud.bootstrap()
    compute_agents = build_agents(settings, cloud.uow, cloud.bus, cloud.clients, scheduler=not split,
                                  workers=args.workers)
    cloud.agents = [a for a in cloud.agents if not a.name.startswith("compute")] + compute_agents
    reconciler = next(r for a in compute_agents for r in a.reconcilers.values()
                      if isinstance(r, InstanceReconciler))
    started = time.perf_counter()
    reconciler.register_hosts()
    print(f"{args.hosts} fake hosts registered (services, nodes, placement providers + inventory) in "
          f"{time.perf_counter() - started:.1f} s")
    child = conn = scheduler = None
    if split:
        conn, child_conn = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(target=run_scheduler, args=(
            tmp, port, args.hosts, database_url, bus_url, args.scheduler_workers, child_conn), daemon=True)
        child.start()
        assert conn.poll(120) and conn.recv() == "ready", "the scheduler process did not start"
    else:
        scheduler = next(r for a in compute_agents for r in a.reconcilers.values() if isinstance(r, Scheduler))
    cloud.start_agents()
    gc.collect()
    gc.freeze()  # as `onestack up` does after start-up
    if split:
        cloud.bus.wait_ready()

    served = Served(cloud.asgi, port)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=args.concurrency + 4))
    token, project_id = admin_login(client, passwords["admin"])
    headers = {"X-Auth-Token": token, **MV}
    client.put(f"{C}/os-quota-sets/{project_id}", headers=headers,
               json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    image_ref = public_image(client, headers)

    api_ms: list[float] = []

    def boot(i: int) -> str:
        t0 = time.perf_counter()
        r = client.post(f"{C}/servers", headers=headers, json={"server": {
            "name": f"bench-{i}", "imageRef": image_ref, "flavorRef": "c1", "networks": "none"}})
        api_ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 202, r.text
        return r.json()["server"]["id"]

    if split:
        conn.send("mark")
    t_start, cpu_start = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(args.concurrency) as pool:
        ids = list(pool.map(boot, range(args.boots)))
    t_posted = time.perf_counter()
    pending = set(ids)
    while pending:
        with cloud.uow() as uow:
            done = set(uow.session.scalars(select(Instance.id).where(
                Instance.id.in_(list(pending)), Instance.vm_state.in_(("active", "error")),
                Instance.task_state.is_(None))))
        pending -= done
        if pending:
            time.sleep(0.05)
    t_done, cpu_done = time.perf_counter(), time.process_time()
    with cloud.uow() as uow:
        rows = list(uow.session.execute(select(Instance.vm_state, Instance.created_at, Instance.launched_at)
                                        .where(Instance.id.in_(ids))))
    errors = sum(1 for r in rows if r.vm_state == "error")
    to_active = [(r.launched_at - r.created_at).total_seconds() * 1000 for r in rows if r.launched_at]
    if split:
        conn.send("stop")
        figures = conn.recv()
        child.join(30)
    else:
        figures = {"decisions": scheduler.decisions, "selections": scheduler.selections, "cpu": scheduler.cpu,
                   "runqueue": scheduler.runqueue}
    decisions = [d * 1000 for d in figures["decisions"]]
    selections = [d * 1000 for d in figures["selections"]]
    decision_cpu = [d * 1000 for d in figures["cpu"]]
    unloaded = [(d - q) * 1000 for d, q in zip(figures["decisions"], figures["runqueue"], strict=True)]
    hosts_used = None
    with cloud.uow() as uow:
        hosts_used = len(set(uow.session.scalars(select(Instance.host).where(Instance.id.in_(ids)))))
    print(f"boots: {args.boots} at concurrency {args.concurrency} on {args.hosts} hosts "
          f"({errors} in ERROR, spread over {hosts_used} hosts)")
    print(f"  boots/s (first POST -> last ACTIVE): {args.boots / (t_done - t_start):.1f}; "
          f"CPU per boot {(cpu_done - cpu_start) * 1000 / args.boots:.1f} ms in this process"
          + (f", {figures['process_cpu'] * 1000 / args.boots:.1f} ms in the scheduler's" if split else "")
          + f" (load {os.getloadavg()[0]:.1f})")
    print(f"  POST /servers: {args.boots / (t_posted - t_start):.1f}/s, p50 {pct(api_ms, 50):.1f} ms, "
          f"p99 {pct(api_ms, 99):.1f} ms")
    print(f"  API -> ACTIVE: p50 {pct(to_active, 50):.0f} ms, p99 {pct(to_active, 99):.0f} ms")
    print(f"  scheduler decision (filters, weighers and claim): p50 {pct(decisions, 50):.1f} ms, "
          f"p99 {pct(decisions, 99):.1f} ms ({len(decisions)} decisions); before the claim p50 "
          f"{pct(selections, 50):.1f} ms, p99 {pct(selections, 99):.1f} ms; CPU p50 {pct(decision_cpu, 50):.1f} ms, "
          f"p99 {pct(decision_cpu, 99):.1f} ms")
    print(f"  scheduler decision less the time its thread waited for a CPU (the machine's other load): "
          f"p50 {pct(unloaded, 50):.1f} ms, p99 {pct(unloaded, 99):.1f} ms")

    # pad the database to --rows servers, then time the detail list
    extra = max(args.rows - args.boots, 0)
    with cloud.uow(write=True) as uow:
        template = uow.session.get(Instance, ids[0])
        base_row = {c.key: getattr(template, c.key) for c in Instance.__mapper__.column_attrs}
        batch = []
        for i in range(extra):
            row = copy.deepcopy(base_row)
            row["id"] = str(uuid.uuid4())
            row["name"] = f"pad-{i}"
            batch.append(row)
            if len(batch) == 1000:
                uow.session.execute(insert(Instance), batch)
                batch = []
        if batch:
            uow.session.execute(insert(Instance), batch)
    timings, cpu = [], []
    for _ in range(7):
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.get(f"{C}/servers/detail?limit=1000", headers=headers)
        timings.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert r.status_code == 200 and len(r.json()["servers"]) == 1000
    print(f"GET /servers/detail?limit=1000 with {args.boots + extra} servers: median "
          f"{statistics.median(timings):.0f} ms, best {min(timings):.0f} ms; CPU median "
          f"{statistics.median(cpu):.0f} ms (client included; load {os.getloadavg()[0]:.1f})")
    served.stop()
    cloud.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
