"""The scheduler: picks a host for each new (or unshelved) server from placement's allocation
candidates, filtered (enabled and alive service, availability zone, server group (anti-)affinity,
aggregate metadata, image properties) and weighed (free RAM then free vCPU: spreading, plus soft
(anti-)affinity), then claims the allocation atomically in placement and retries on claim races.

Runs as a reconciler on the ``compute.schedule`` topic (``onestack up`` runs it in-process).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, or_, select, update

from onestack.core.config import Settings
from onestack.core.db import utcnow
from onestack.core.errors import Conflict
from onestack.core.reconcile import Requeue
from onestack.core.uow import UnitOfWorkFactory

from . import states
from .model import Aggregate, ComputeNode, Instance, InstanceAction, ServerGroup, ServerGroupMember, Service
from .service import hosts as hosts_svc
from .service.common import INSTANCE, SCHEDULE
from .service.servers import add_event

log = logging.getLogger(__name__)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
CLAIM_ATTEMPTS = 5
NO_HOST_RETRIES = 3
MIGRATING = ("resize_prep", "migrating", "resize_reverting")  # with a pending (live-)migrate: hosts to pick
HOSTS_MAX_AGE = 10.0  # seconds: host liveness is re-evaluated this often (the scheduler agent's resync)
FIGURES = 10_000  # decisions whose timings are kept for benchmarks
IMAGE_TTL = 30.0  # seconds an image's properties are reused between decisions


@dataclass(frozen=True)
class HostState:
    host: str
    node_id: str
    node: str
    zone: str
    hypervisor_type: str
    aggregates: tuple[dict, ...]  # metadata of the aggregates holding the host


def resources_of(flavor: dict) -> dict[str, int]:
    out = {"VCPU": int(flavor.get("vcpus") or 0), "MEMORY_MB": int(flavor.get("ram") or 0),
           "DISK_GB": int(flavor.get("disk") or 0) + int(flavor.get("ephemeral") or 0)
           + math.ceil(int(flavor.get("swap") or 0) / 1024)}
    return {k: v for k, v in out.items() if v > 0}


class ImageCache:
    """Image documents reused for ``IMAGE_TTL`` seconds: every boot of an image reads the same one
    (the API checked the image exists and the caller may use it)."""

    def __init__(self, clients: dict, ttl: float = IMAGE_TTL, size: int = 1000) -> None:
        self.clients = clients
        self.ttl = ttl
        self.size = size
        self._items: dict[str, tuple[float, dict]] = {}

    def get(self, image_ref: str) -> dict:
        """The image document ({} when the image service is absent or the image is gone)."""
        image_client = self.clients.get("image")
        if image_client is None or not image_ref:
            return {}
        stamp, image = self._items.get(image_ref, (0.0, {}))
        if time.monotonic() - stamp < self.ttl:
            return image
        image = image_client.get_image(None, image_ref) or {}
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[image_ref] = (time.monotonic(), image)
        return image


_REQUEST_COLUMNS = (Instance.id, Instance.project_id, Instance.user_id, Instance.flavor, Instance.requested_az,
                    Instance.server_group_id, Instance.system_metadata, Instance.image_ref, Instance.task_state,
                    Instance.host, Instance.deleted)

# prebuilt Core statements for every decision: the request's columns (with the hosts' fingerprint: one
# statement, one read transaction), and the hand-over to the host
_LATEST_ACTION = select(InstanceAction.id).where(InstanceAction.instance_id == Instance.id).order_by(
    InstanceAction.id.desc()).limit(1)
_REQUEST = select(*_REQUEST_COLUMNS, Instance.pending,  # with the server's latest action: its event's parent
                  _LATEST_ACTION.scalar_subquery().label("action_id"),
                  _LATEST_ACTION.with_only_columns(InstanceAction.start_time).scalar_subquery().label("action_start"),
                  ).where(Instance.id == bindparam("id"))
_MARK_AT = len(_REQUEST.selected_columns)  # the hosts' fingerprint follows
_INSTANCE_T = Instance.__table__
_ASSIGN = update(_INSTANCE_T).where(
    _INSTANCE_T.c.id == bindparam("instance_id"), _INSTANCE_T.c.deleted.is_(False), _INSTANCE_T.c.host.is_(None),
    _INSTANCE_T.c.task_state == bindparam("task")).values(
    host=bindparam("new_host"), node=bindparam("new_node"), node_id=bindparam("new_node_id"),
    availability_zone=bindparam("zone"), task_state=bindparam("next_task"), updated_at=bindparam("now"))


class Scheduler:
    """Decisions run on an in-memory view: the compute hosts (refreshed when services, nodes or
    aggregates change, and every ``HOSTS_MAX_AGE`` seconds) and placement's providers (refreshed from
    the providers that changed).  A decision filters and weighs in memory, then claims in placement,
    which alone decides: a refused claim re-reads that provider and tries the next best host."""

    topic = SCHEDULE

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, clients: dict):
        self.settings = settings
        self.uow = uow
        self.clients = clients
        self._hosts: tuple[float, tuple, dict[str, HostState]] = (0.0, (), {})
        self._lock = threading.Lock()
        self._no_host: dict[str, int] = {}
        self._images = ImageCache(clients)
        self._view = None
        # built once: SQLAlchemy keys a built statement faster
        self._fingerprint = select(*_fingerprint_columns())
        self._request = _REQUEST.add_columns(*_fingerprint_columns())
        self._batch: list[_Handing] = []  # decisions waiting for their claim's transaction
        self._batch_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        # the last FIGURES decisions' timings (bench reads them); bounded: a scheduler runs for months
        self.decisions: deque[float] = deque(maxlen=FIGURES)  # seconds per decision, claim included
        self.selections: deque[float] = deque(maxlen=FIGURES)  # seconds before the claim (filters + weighers)
        self.cpu: deque[float] = deque(maxlen=FIGURES)  # CPU seconds of this thread per decision (load-independent)
        self.runqueue: deque[float] = deque(maxlen=FIGURES)  # seconds runnable, waiting for a CPU, per decision

    @property
    def placement(self):
        return self.clients["placement"]

    @property
    def view(self):
        if self._view is None:
            self._view = self.placement.view()
        return self._view

    # -- reconciler protocol ----------------------------------------------------------------------

    def pending_keys(self) -> Iterable[str]:
        # The periodic re-reads (liveness of every host, every provider's generation) happen here, in
        # the agent's resync every 10 s, rather than in the middle of whichever decision comes next.
        try:
            self.hosts(max_age=0.0)
            self.view.refresh(force=True)
        except Exception:  # decisions re-read themselves; the pending servers below matter more
            log.exception("scheduler: periodic re-read of hosts and providers failed")
        with self.uow() as uow:
            new = list(uow.session.scalars(select(Instance.id).where(
                Instance.deleted.is_(False), Instance.host.is_(None),
                Instance.task_state.in_((states.SCHEDULING, "unshelving")))))
            moving = [i.id for i in uow.session.scalars(select(Instance).where(
                Instance.deleted.is_(False), Instance.task_state.in_(MIGRATING)))
                if (i.pending or {}).get("action") in ("migrate", "live-migration")
                and not (i.pending or {}).get("moved")]
            return new + moving

    def reconcile(self, key: str) -> None:
        with self.uow() as uow:
            row = uow.session.connection().execute(self._request, {"id": key}).first()
        if row is None or row.deleted:
            self.placement.release(key)  # a claim made just before the server was deleted
            return
        pending = dict(row.pending or {})
        if row.task_state in MIGRATING and pending.get("action") in ("migrate", "live-migration") \
                and not pending.get("moved"):
            self._start_migration(key)
            return
        if row.host is not None or row.task_state not in (states.SCHEDULING, "unshelving"):
            return
        want = _Request(row.id, row.project_id, row.user_id, dict(row.flavor), row.requested_az,
                        row.server_group_id, (row.system_metadata or {}).get("forced_host") or None,
                        row.image_ref, row.task_state)
        next_task = states.SPAWNING if want.task_state == states.SCHEDULING else want.task_state

        def hand_over(uow, chosen: HostState) -> bool:
            """In the claim's transaction: the server goes to its host, or the claim rolls back."""
            if uow.session.connection().execute(_ASSIGN, {
                    "instance_id": key, "task": want.task_state, "new_host": chosen.host, "new_node": chosen.node,
                    "new_node_id": chosen.node_id, "zone": chosen.zone, "next_task": next_task,
                    "now": utcnow()}).rowcount != 1:
                return False  # deleted (or handed on by another scheduler) meanwhile
            add_event(uow, key, "conductor_schedule_and_build_instances", None, True,
                      action=(row.action_id, row.action_start) if row.action_id is not None else None)
            uow.emit(INSTANCE, key)
            return True

        try:
            chosen = self._decide(want, mark=tuple(row[_MARK_AT:]), hand_over=hand_over)
        except _Withdrawn:
            return  # nothing was claimed: the transaction rolled back
        if chosen is None:
            tries = self._no_host.get(key, 0) + 1
            if tries <= NO_HOST_RETRIES:
                self._no_host[key] = tries
                self._hosts = (0.0, (), {})  # look again with fresh hosts and providers
                self.view.refresh(force=True)
                raise Requeue(0.3 * tries)
            self._no_host.pop(key, None)
            self._fail(want, NO_VALID_HOST)
            return
        self._no_host.pop(key, None)
        # Others' claims reach the view here, once the server is handed on (at most every
        # MIN_INTERVAL), not inside the next decision: our own claims count in it at once.
        self.view.refresh()

    def _start_migration(self, key: str) -> None:
        with self.uow() as uow:
            inst = uow.session.get(Instance, key)
            if inst is None or inst.deleted:
                return
            pending = dict(inst.pending or {})
            want = _Request(inst.id, inst.project_id, inst.user_id, dict(inst.flavor), None,
                            inst.server_group_id, pending.get("target"), inst.image_ref, inst.task_state)
            source, revision = inst.host, inst.revision
        self._migrate(want, source, revision, pending)

    # -- the view -----------------------------------------------------------------------------------

    def hosts(self, max_age: float = 3 * HOSTS_MAX_AGE, mark: tuple | None = None) -> dict[str, HostState]:
        """Enabled, alive compute hosts (node id -> state): re-read when a service, node or aggregate
        changed (one small statement per decision tells, or ``mark``, read with the request; heartbeats
        do not count) or when older than ``max_age`` (liveness: the resync re-reads every
        ``HOSTS_MAX_AGE``, decisions only if it is late)."""
        if mark is not None:
            stamp, have, cached = self._hosts
            if cached and have == mark and time.monotonic() - stamp < max_age:
                return cached
        with self.uow() as uow:
            mark = _hosts_fingerprint(uow, self._fingerprint)
            stamp, have, cached = self._hosts
            if cached and have == mark and time.monotonic() - stamp < max_age:
                return cached
            found = self._read_hosts(uow)
        with self._lock:
            self._hosts = (time.monotonic(), mark, found)
        return found

    def _read_hosts(self, uow) -> dict[str, HostState]:
        default_zone = self.settings.compute.default_availability_zone
        now = utcnow()
        up = set()
        for s in uow.session.execute(select(Service.host, Service.disabled, Service.forced_down,
                                            Service.last_seen_up, Service.updated_at, Service.created_at)
                                     .where(Service.binary == "nova-compute")):
            if not s.disabled and hosts_svc.is_up(s, now):
                up.add(s.host)
        by_host: dict[str, list[dict]] = {}
        for meta, members in uow.session.execute(select(Aggregate.metadata_, Aggregate.hosts)):
            for host in members or ():
                by_host.setdefault(host, []).append(dict(meta or {}))
        found = {}
        for node_id, host, name, hv_type in uow.session.execute(select(
                ComputeNode.id, ComputeNode.host, ComputeNode.hypervisor_hostname, ComputeNode.hypervisor_type)):
            if host not in up:
                continue
            mine = tuple(by_host.get(host, ()))
            zone = next((m["availability_zone"] for m in mine if m.get("availability_zone")), default_zone)
            found[node_id] = HostState(host, node_id, name, zone, hv_type, mine)
        return found

    def _group(self, group_id: str | None) -> tuple[str | None, set[str], dict[str, int]]:
        if not group_id:
            return None, set(), {}
        with self.uow() as uow:
            policy = uow.session.scalar(select(ServerGroup.policy).where(ServerGroup.id == group_id))
            if policy is None:
                return None, set(), {}
            counts: dict[str, int] = {}
            for host in uow.session.scalars(select(Instance.host).join(
                    ServerGroupMember, ServerGroupMember.instance_id == Instance.id).where(
                    ServerGroupMember.group_id == group_id, Instance.deleted.is_(False),
                    Instance.host.is_not(None))):
                counts[host] = counts.get(host, 0) + 1
            return policy, set(counts), counts

    def _image_properties(self, image_ref: str) -> dict:
        return self._images.get(image_ref)

    # -- decisions --------------------------------------------------------------------------------

    def _decide(self, want: _Request, exclude: str | None = None, mark: tuple | None = None,
                hand_over=None) -> HostState | None:
        """The chosen host, claimed in placement (None: no host fits).  ``hand_over(uow, host)``, when
        given, runs in the claim's write transaction; if it returns False the claim rolls back with it
        and ``_Withdrawn`` is raised."""
        started, cpu, queued = time.perf_counter(), time.thread_time(), runqueue_wait()
        try:
            return self._schedule(want, exclude, mark, hand_over)
        finally:
            self.decisions.append(time.perf_counter() - started)
            self.cpu.append(time.thread_time() - cpu)
            self.runqueue.append(runqueue_wait() - queued)

    def _schedule(self, want: _Request, exclude: str | None = None, mark: tuple | None = None,
                  hand_over=None) -> HostState | None:
        started = time.perf_counter()
        hosts = self.hosts(mark=mark)
        policy, group_hosts, group_counts = self._group(want.group_id)
        image = self._image_properties(want.image_ref)
        wanted_specs = {k.split(":", 1)[1]: v for k, v in (want.flavor.get("extra_specs") or {}).items()
                        if k.startswith("aggregate_instance_extra_specs:")}
        hv = image.get("hypervisor_type") or image.get("img_hv_type")
        filtered = bool(want.forced_host or exclude or want.zone or wanted_specs or hv
                        or policy in ("affinity", "anti-affinity"))
        allowed = {} if filtered else hosts  # most boots: every live host passes, no loop over 1,000
        for node_id, state in hosts.items() if filtered else ():
            if want.forced_host and state.host != want.forced_host:
                continue
            if exclude and state.host == exclude:
                continue
            if want.zone and state.zone != want.zone:
                continue
            if policy == "affinity" and group_hosts and state.host not in group_hosts:
                continue
            if policy == "anti-affinity" and state.host in group_hosts:
                continue
            if wanted_specs and not any(all(str(m.get(k)) == str(v) for k, v in wanted_specs.items())
                                        for m in state.aggregates):
                continue
            if hv and hv.lower() != (state.hypervisor_type or "").lower():  # canonical, as Nova: QEMU == qemu
                continue
            allowed[node_id] = state
        if not allowed:
            self.selections.append(time.perf_counter() - started)
            return None
        resources = resources_of(want.flavor)
        view = self.view
        if not view.states:
            view.refresh()  # the first decision of this process (the resync has usually read it already)
        soft = {"soft-anti-affinity": -1, "soft-affinity": 1}.get(policy or "", 0)
        tried: set[str] = set()
        for attempt in range(CLAIM_ATTEMPTS):
            with view.lock:  # rank and reserve atomically: concurrent decisions see each other's picks
                if soft and group_counts:  # the group's members weigh first, then the spreading weighers
                    best_count = max((soft * group_counts.get(allowed[u].host, 0) for u in allowed
                                      if u not in tried and view.fits(u, resources)), default=None)
                    pool = {u for u in allowed if soft * group_counts.get(allowed[u].host, 0) == best_count}
                    best = view.best(pool, resources, tried) if best_count is not None else None
                else:
                    best = view.best(allowed, resources, tried)
                if best is None:
                    if attempt == 0:
                        self.selections.append(time.perf_counter() - started)
                    return None
                view.reserve(best, resources)
            if attempt == 0:
                self.selections.append(time.perf_counter() - started)
            generations = self._claim(want, best, resources, allowed[best], hand_over)  # settles the view
            if generations is not None:
                return allowed[best]
            tried.add(best)  # lost a race (or the view was stale): re-read and take the next best
            view.refresh()
        return None

    def _claim(self, want: _Request, node_id: str, resources: dict[str, int], chosen: HostState,
               hand_over) -> dict[str, int] | None:
        """Placement's claim (the new generations of the providers; None: refused), with the hand-over
        to the host in the same write transaction when ``hand_over`` is given; the view's reservation
        is settled (in commit order: each claim's generation follows the one before).

        Hand-overs are committed in batches: the decisions made while one worker waits for the database's
        write turn join its transaction (one BEGIN/COMMIT, one turn, for a burst's decisions instead of
        one each).  A batch in which a claim is refused or a server went away rolls back and each of its
        decisions is committed on its own."""
        if hand_over is None:
            generations = self.placement.claim_generations(want.id, {node_id: resources}, want.project_id,
                                                           want.user_id)
            self.view.settle(node_id, resources, generations)
            return generations
        item = _Handing(want, node_id, resources, chosen, hand_over)
        with self._batch_lock:
            self._batch.append(item)
        while not item.done:
            with self._commit_lock:  # one committer at a time; it may commit our item meanwhile
                if not item.done:
                    self._commit_batch(item)
        if item.error is not None:
            raise item.error
        return item.generations

    def _commit_batch(self, mine: _Handing) -> None:
        items: list[_Handing] = []
        try:
            self._commit_items(mine, items)
        finally:  # whatever happened, no decision taken from the batch is left waiting
            for item in items:
                if not item.done:
                    self._settle(item, None, RuntimeError("hand-over interrupted"))

    def _commit_items(self, mine: _Handing, items: list[_Handing]) -> None:
        try:
            with self.uow(write=True) as uow:
                uow.session.connection()  # BEGIN: waits for the write turn, while more decisions queue
                with self._batch_lock:
                    items.extend(self._batch)
                    self._batch = []
                for item in items:
                    item.generations = self.placement.claim_in(uow, item.want.id, {item.node_id: item.resources},
                                                               item.want.project_id, item.want.user_id)
                    if not item.hand_over(uow, item.chosen):
                        raise _Withdrawn()
        except Exception as exc:
            if not items:  # failed before taking the batch (no write turn): only ours gives up
                with self._batch_lock:
                    self._batch.remove(mine)
                self._settle(mine, None, exc)
                return
            if len(items) == 1 and isinstance(exc, (Conflict, _Withdrawn)):
                self._settle(items[0], None, exc if isinstance(exc, _Withdrawn) else None)
                return
            for item in items:  # a refused claim, a server gone, an error: each on its own
                self._commit_one(item)
            return
        for item in items:
            self._settle(item, item.generations, None)

    def _commit_one(self, item: _Handing) -> None:
        try:
            with self.uow(write=True) as uow:
                generations = self.placement.claim_in(uow, item.want.id, {item.node_id: item.resources},
                                                      item.want.project_id, item.want.user_id)
                if not item.hand_over(uow, item.chosen):
                    raise _Withdrawn()
        except Conflict:
            self._settle(item, None, None)
        except Exception as exc:  # _Withdrawn included
            self._settle(item, None, exc)
        else:
            self._settle(item, generations, None)

    def _settle(self, item: _Handing, generations: dict[str, int] | None, error: BaseException | None) -> None:
        self.view.settle(item.node_id, item.resources, generations)
        item.generations, item.error, item.done = generations, error, True

    def _migrate(self, want: _Request, source: str | None, revision: int, pending: dict) -> None:
        chosen = self._decide(want, exclude=source)
        with self.uow(write=True) as uow:
            inst = uow.session.get(Instance, want.id, with_for_update=True)
            if inst is None or inst.deleted or inst.revision != revision:
                return
            if chosen is None:
                inst.task_state = None
                inst.pending = None
                inst.observed_revision = inst.revision
                add_event(uow, inst.id, "conductor_migrate_server", None, False, NO_VALID_HOST)
                return
            inst.host, inst.node, inst.node_id = chosen.host, chosen.node, chosen.node_id
            inst.availability_zone = chosen.zone
            inst.pending = {**pending, "moved": True}
            inst.revision += 1
            inst.updated_at = utcnow()
            add_event(uow, inst.id, "conductor_migrate_server", None, True)
            uow.emit(INSTANCE, inst.id)

    def _fail(self, want: _Request, message: str) -> None:
        with self.uow(write=True) as uow:
            inst = uow.session.get(Instance, want.id, with_for_update=True)
            if inst is None or inst.deleted:
                return
            if want.task_state == "unshelving":
                inst.task_state = None
            else:
                inst.vm_state = states.ERROR
                inst.task_state = None
                inst.status = "ERROR"
            inst.fault = {"code": 500, "message": message, "details": "", "created": utcnow().isoformat()}
            inst.updated_at = utcnow()
            add_event(uow, inst.id, "conductor_schedule_and_build_instances", None, False, message)


class _SchedStat:
    """This thread's /proc schedstat, open for the thread's life (a pread is a few microseconds)."""

    def __init__(self) -> None:
        try:
            self.fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:  # not Linux
            self.fd = -1

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)


_schedstat = threading.local()


def runqueue_wait() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (others' load; 0 where unknown):
    taken from a decision's wall time, what is left is our CPU, the GIL and the database."""
    stat = getattr(_schedstat, "stat", None)
    if stat is None:
        stat = _schedstat.stat = _SchedStat()
    if stat.fd < 0:
        return 0.0
    return int(os.pread(stat.fd, 64, 0).split()[1]) / 1e9


class _Handing:
    """A decision waiting to be claimed and handed to its host in a batch's write transaction."""

    def __init__(self, want: _Request, node_id: str, resources: dict[str, int], chosen: HostState,
                 hand_over) -> None:
        self.want = want
        self.node_id = node_id
        self.resources = resources
        self.chosen = chosen
        self.hand_over = hand_over
        self.generations: dict[str, int] | None = None
        self.error: BaseException | None = None
        self.done = False


class _Withdrawn(Exception):  # noqa: N818 - a control-flow signal
    """The server went away (or on) between its read and the claim: the claim rolled back."""


@dataclass(frozen=True)
class _Request:
    id: str
    project_id: str
    user_id: str
    flavor: dict
    zone: str | None
    group_id: str | None
    forced_host: str | None
    image_ref: str
    task_state: str | None


def _fingerprint_columns() -> list:
    # A heartbeat sets a service's updated_at and last_seen_up to the same instant, every other change
    # (disable, force down) only updated_at: with heartbeats left out, 1,000 hosts heartbeating at
    # their own times do not make every decision re-read every host (liveness has HOSTS_MAX_AGE).
    changed = select(func.max(Service.updated_at)).where(
        or_(Service.last_seen_up.is_(None), Service.updated_at != Service.last_seen_up))
    return [c.label(f"fingerprint_{i}") for i, c in enumerate((
        select(func.count(Service.id)).scalar_subquery(), changed.scalar_subquery(),
        select(func.count(ComputeNode.id)).scalar_subquery(),
        select(func.max(ComputeNode.updated_at)).scalar_subquery(),
        select(func.count(Aggregate.id)).scalar_subquery(), select(func.max(Aggregate.id)).scalar_subquery(),
        select(func.max(Aggregate.updated_at)).scalar_subquery()))]


def _hosts_fingerprint(uow, statement) -> tuple:
    """Changes whenever a compute service, node or aggregate is added, removed or updated (but not
    when a service heartbeats)."""
    return tuple(uow.session.connection().execute(statement).one())
