"""The scheduler: picks a host for each new (or unshelved) server from placement's allocation
candidates, filtered (enabled and alive service, availability zone, server group (anti-)affinity,
aggregate metadata, image properties) and weighed (free RAM then free vCPU: spreading, plus soft
(anti-)affinity), then claims the allocation atomically in placement and retries on claim races.

Runs as a reconciler on the ``compute.schedule`` topic (``onestack up`` runs it in-process).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from onestack.core.config import Settings
from onestack.core.db import utcnow
from onestack.core.reconcile import Requeue
from onestack.core.uow import UnitOfWorkFactory
from onestack.placement.client import CandidateQuery

from . import states
from .model import Aggregate, ComputeNode, Instance, ServerGroup, ServerGroupMember, Service
from .service import hosts as hosts_svc
from .service.common import INSTANCE, SCHEDULE
from .service.servers import add_event

log = logging.getLogger(__name__)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
CLAIM_ATTEMPTS = 5
CANDIDATES = 50  # the most-free providers placement returns; the weighers rank these (Nova: 1000)
NO_HOST_RETRIES = 3
MIGRATING = ("resize_prep", "migrating")  # hosts may still be registering right after start


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


class Scheduler:
    topic = SCHEDULE

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, clients: dict, host_cache_ttl: float = 1.0):
        self.settings = settings
        self.uow = uow
        self.clients = clients
        self.ttl = host_cache_ttl
        self._hosts: tuple[float, dict[str, HostState]] = (0.0, {})
        self._lock = threading.Lock()
        self._no_host: dict[str, int] = {}
        # Claims this scheduler made in the last moments: concurrent decisions read the same usage
        # snapshot, so the weigher also counts these to keep spreading (Nova's in-memory consume).
        self._recent: dict[str, list[tuple[float, int, int]]] = {}
        self.decisions: list[float] = []  # seconds per decision (bench reads it)

    @property
    def placement(self):
        return self.clients["placement"]

    # -- reconciler protocol ----------------------------------------------------------------------

    def pending_keys(self) -> Iterable[str]:
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
            inst = uow.session.get(Instance, key)
            pending = dict((inst.pending or {}) if inst is not None else {})
            if inst is not None and not inst.deleted and inst.task_state in MIGRATING and pending.get(
                    "action") in ("migrate", "live-migration") and not pending.get("moved"):
                want = _Request(inst.id, inst.project_id, inst.user_id, dict(inst.flavor), None,
                                inst.server_group_id, pending.get("target"), inst.image_ref, inst.task_state)
                source, revision = inst.host, inst.revision
            else:
                want = None
        if want is not None:
            self._migrate(want, source, revision, pending)
            return
        with self.uow() as uow:
            inst = uow.session.get(Instance, key)
            if inst is None or inst.deleted or inst.host is not None or inst.task_state not in (
                    states.SCHEDULING, "unshelving"):
                if inst is None or inst.deleted:
                    self.placement.release(key)  # a claim made just before the server was deleted
                return
            want = _Request(inst.id, inst.project_id, inst.user_id, dict(inst.flavor), inst.requested_az,
                            inst.server_group_id, (inst.system_metadata or {}).get("forced_host") or None,
                            inst.image_ref, inst.task_state)
        started = time.perf_counter()
        chosen = self._schedule(want)
        self.decisions.append(time.perf_counter() - started)
        if chosen is None:
            tries = self._no_host.get(key, 0) + 1
            if tries <= NO_HOST_RETRIES:
                self._no_host[key] = tries
                self._hosts = (0.0, {})
                raise Requeue(0.3 * tries)
            self._no_host.pop(key, None)
            self._fail(want, NO_VALID_HOST)
            return
        self._no_host.pop(key, None)
        with self.uow(write=True) as uow:
            inst = uow.session.get(Instance, key, with_for_update=True)
            if inst is None or inst.deleted or inst.host is not None:
                keep = False
            else:
                keep = True
                inst.host, inst.node, inst.node_id = chosen.host, chosen.node, chosen.node_id
                inst.availability_zone = chosen.zone
                if inst.task_state == states.SCHEDULING:
                    inst.task_state = states.SPAWNING
                inst.updated_at = utcnow()
                add_event(uow, inst.id, "conductor_schedule_and_build_instances", None, True)
                uow.emit(INSTANCE, inst.id)
        if not keep:
            self.placement.release(key)

    # -- decisions --------------------------------------------------------------------------------

    def hosts(self) -> dict[str, HostState]:
        """Enabled, alive compute hosts (node id -> state), cached for ``ttl`` seconds."""
        with self._lock:
            stamp, cached = self._hosts
            if time.monotonic() - stamp < self.ttl and cached:
                return cached
        default_zone = self.settings.compute.default_availability_zone
        with self.uow() as uow:
            now = utcnow()
            services = {s.host: s for s in uow.session.scalars(select(Service).where(
                Service.binary == "nova-compute"))}
            aggs = list(uow.session.scalars(select(Aggregate)))
            found = {}
            for node in uow.session.scalars(select(ComputeNode)):
                service = services.get(node.host)
                if service is None or service.disabled or not hosts_svc.is_up(service, now):
                    continue
                mine = tuple(dict(a.metadata_ or {}) for a in aggs if node.host in (a.hosts or ()))
                zone = next((m["availability_zone"] for m in mine if m.get("availability_zone")), default_zone)
                found[node.id] = HostState(node.host, node.id, node.hypervisor_hostname, zone,
                                           node.hypervisor_type, mine)
        with self._lock:
            self._hosts = (time.monotonic(), found)
        return found

    def _group(self, group_id: str | None) -> tuple[str | None, set[str], dict[str, int]]:
        if not group_id:
            return None, set(), {}
        with self.uow() as uow:
            group = uow.session.get(ServerGroup, group_id)
            if group is None:
                return None, set(), {}
            counts: dict[str, int] = {}
            for host in uow.session.scalars(select(Instance.host).join(
                    ServerGroupMember, ServerGroupMember.instance_id == Instance.id).where(
                    ServerGroupMember.group_id == group_id, Instance.deleted.is_(False),
                    Instance.host.is_not(None))):
                counts[host] = counts.get(host, 0) + 1
            return group.policy, set(counts), counts

    def _image_properties(self, image_ref: str) -> dict:
        image_client = self.clients.get("image")
        if image_client is None or not image_ref:
            return {}
        image = image_client.get_image(None, image_ref) or {}
        return image

    def _schedule(self, want: _Request, exclude: str | None = None) -> HostState | None:
        hosts = self.hosts()
        policy, group_hosts, group_counts = self._group(want.group_id)
        image = self._image_properties(want.image_ref)
        wanted_specs = {k.split(":", 1)[1]: v for k, v in (want.flavor.get("extra_specs") or {}).items()
                        if k.startswith("aggregate_instance_extra_specs:")}
        allowed = {}
        for node_id, state in hosts.items():
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
            hv = image.get("hypervisor_type") or image.get("img_hv_type")
            if hv and hv.lower() != (state.hypervisor_type or "").lower():  # canonical, as Nova: QEMU == qemu
                continue
            allowed[node_id] = state
        if not allowed:
            return None
        resources = resources_of(want.flavor)
        for _attempt in range(CLAIM_ATTEMPTS):
            summaries = self.placement.candidates(CandidateQuery(
                resources=resources, providers=tuple(allowed) if len(allowed) < len(hosts) else None,
                most_free="MEMORY_MB" if "MEMORY_MB" in resources else None,
                limit=None if policy == "soft-affinity" else CANDIDATES))
            summaries = [s for s in summaries if s.uuid in allowed]
            if not summaries:
                return None
            jitter = random.random
            tried: set[str] = set()
            for _pick in range(3):
                with self._lock:  # rank and reserve atomically: concurrent decisions see each other
                    recent = self._recent_usage_locked()

                    def weight(s, jitter=jitter, recent=recent):
                        ram = s.resources.get("MEMORY_MB", {})
                        cpu = s.resources.get("VCPU", {})
                        pending_ram, pending_cpu = recent.get(s.uuid, (0, 0))
                        free_ram = ram.get("capacity", 0) - ram.get("used", 0) - pending_ram
                        free_cpu = cpu.get("capacity", 0) - cpu.get("used", 0) - pending_cpu
                        members = group_counts.get(allowed[s.uuid].host, 0)
                        soft = -members if policy == "soft-anti-affinity" else \
                            members if policy == "soft-affinity" else 0
                        return (soft, free_ram, free_cpu, jitter())

                    choices = [s for s in summaries if s.uuid not in tried]
                    if not choices:
                        break
                    best = max(choices, key=weight)
                    entry = (time.monotonic(), resources.get("MEMORY_MB", 0), resources.get("VCPU", 0))
                    self._recent.setdefault(best.uuid, []).append(entry)
                tried.add(best.uuid)
                if self.placement.claim(want.id, {best.uuid: resources}, want.project_id, want.user_id):
                    return allowed[best.uuid]
                with self._lock:
                    if entry in self._recent.get(best.uuid, []):
                        self._recent[best.uuid].remove(entry)
        return None

    def _migrate(self, want: _Request, source: str | None, revision: int, pending: dict) -> None:
        started = time.perf_counter()
        chosen = self._schedule(want, exclude=source)
        self.decisions.append(time.perf_counter() - started)
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

    def _recent_usage_locked(self, window: float = 2.0) -> dict[str, tuple[int, int]]:
        cutoff = time.monotonic() - window
        out = {}
        for rp, claims in list(self._recent.items()):
            claims[:] = [c for c in claims if c[0] >= cutoff]
            if not claims:
                del self._recent[rp]
                continue
            out[rp] = (sum(c[1] for c in claims), sum(c[2] for c in claims))
        return out

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
