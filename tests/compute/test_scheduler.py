"""The scheduler's in-memory view: heartbeats do not invalidate its host cache, an admin change does at
the very next decision, and two schedulers deciding at once (two processes sharing the database) never
put more on a host than placement lets them."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from onestack import migrations
from onestack.app import build
from onestack.compute.agent import InstanceReconciler, build_agents
from onestack.compute.model import Service
from onestack.compute.scheduler import Scheduler, _Request, _Withdrawn
from onestack.compute.service import hosts as hosts_svc
from onestack.core.testing.client import make_settings

HOST_RAM = 262144  # the fake driver's host


@pytest.fixture
def parts(tmp_path):
    """A cloud of its own with three fake hosts and its agents built but not started: the test drives them."""
    settings = make_settings(str(tmp_path / "data"), compute={"host": "sch", "fake_hosts": 3})
    cloud = build(settings)
    migrations.upgrade(cloud.engine)
    try:
        cloud.bootstrap()
        agents = build_agents(settings, cloud.uow, cloud.bus, cloud.clients, workers=1)
        reconciler = next(r for a in agents for r in a.reconcilers.values() if isinstance(r, InstanceReconciler))
        reconciler.register_hosts()
        yield cloud, settings, reconciler
    finally:
        cloud.close()


def _hosts(scheduler: Scheduler) -> list[str]:
    return sorted(state.host for state in scheduler.hosts().values())


def _set_status(cloud, host: str, status: str) -> None:
    with cloud.uow(write=True) as uow:
        service = uow.session.scalars(select(Service).where(Service.host == host)).one()
        hosts_svc.update_service(uow, service, {"status": status})


def test_heartbeats_keep_the_host_cache_and_an_admin_change_is_seen_at_the_next_decision(parts):
    """Liveness is re-read by the resync; a decision re-reads hosts only when the fingerprint moved."""
    cloud, settings, reconciler = parts
    scheduler = Scheduler(settings, cloud.uow, cloud.clients)
    cached = scheduler.hosts()
    assert _hosts(scheduler) == ["sch-0001", "sch-0002", "sch-0003"]
    reconciler.heartbeat()
    assert scheduler.hosts() is cached  # 1,000 heartbeating hosts would otherwise re-read every host each time
    _set_status(cloud, "sch-0002", "disabled")
    assert _hosts(scheduler) == ["sch-0001", "sch-0003"]
    reconciler.heartbeat()  # the disabled service heartbeats on
    assert _hosts(scheduler) == ["sch-0001", "sch-0003"]
    _set_status(cloud, "sch-0002", "enabled")
    assert _hosts(scheduler) == ["sch-0001", "sch-0002", "sch-0003"]
    cached = scheduler.hosts()
    scheduler.pending_keys()  # the agent's periodic resync re-reads liveness, outside any decision
    assert scheduler.hosts() is not cached and _hosts(scheduler) == ["sch-0001", "sch-0002", "sch-0003"]


def test_two_schedulers_deciding_at_once_fill_each_host_exactly_once(parts):
    """A flavor of more than half a host's RAM capacity: three fit (one per host). Twelve decisions race in two
    schedulers, each with its own cached view: exactly three claims win, on three different hosts."""
    cloud, settings, _ = parts
    schedulers = [Scheduler(settings, cloud.uow, cloud.clients) for _ in range(2)]
    for scheduler in schedulers:
        scheduler.hosts()
        scheduler.view.refresh(force=True)
    capacity = int(HOST_RAM * float(settings.compute.ram_allocation_ratio))
    flavor = {"vcpus": 1, "ram": capacity // 2 + 1, "disk": 1}

    def decide(i):
        want = _Request(str(uuid.uuid4()), "p", "u", flavor, None, None, None, "", "scheduling")
        return schedulers[i % 2]._decide(want)

    with ThreadPoolExecutor(8) as pool:
        chosen = [c for c in pool.map(decide, range(12)) if c is not None]
    assert sorted(c.host for c in chosen) == ["sch-0001", "sch-0002", "sch-0003"]
    placement = cloud.clients["placement"]
    alive, states = placement.provider_changes({})
    assert all(s.resources["MEMORY_MB"].used <= s.resources["MEMORY_MB"].capacity for s in states)
    assert sum(s.resources["MEMORY_MB"].used for s in states) == 3 * flavor["ram"]


def test_a_hand_over_refused_in_the_claims_transaction_rolls_the_claim_back(parts):
    """The claim and the hand-over to the host are one transaction: a server gone (or handed on) between
    its read and the claim leaves no allocation behind and no provider generation moved."""
    cloud, settings, _ = parts
    scheduler = Scheduler(settings, cloud.uow, cloud.clients)
    placement = cloud.clients["placement"]
    _, before = placement.provider_changes({})
    want = _Request(str(uuid.uuid4()), "p", "u", {"vcpus": 1, "ram": 512, "disk": 1}, None, None, None, "",
                    "scheduling")
    with pytest.raises(_Withdrawn):
        scheduler._decide(want, hand_over=lambda uow, chosen: False)
    assert placement.allocations(want.id) == {}
    _, after = placement.provider_changes({})
    assert {s.uuid: s.generation for s in after} == {s.uuid: s.generation for s in before}
    handed = []
    chosen = scheduler._decide(want, hand_over=lambda uow, host: handed.append(host.host) or True)
    assert handed == [chosen.host] and list(placement.allocations(want.id)) == [chosen.node_id]


def test_decisions_handed_over_at_once_commit_together_and_one_withdrawn_spoils_none_of_the_others(parts):
    """Concurrent hand-overs join one write transaction while it waits for its turn; a batch in which
    one server went away is rolled back and redone decision by decision: the others keep their claims."""
    cloud, settings, _ = parts
    scheduler = Scheduler(settings, cloud.uow, cloud.clients)
    placement = cloud.clients["placement"]
    flavor = {"vcpus": 1, "ram": 256, "disk": 1}
    wants = [_Request(str(uuid.uuid4()), "p", "u", flavor, None, None, None, "", "scheduling") for _ in range(12)]
    gone = wants[5].id

    def decide(want):
        try:
            return scheduler._decide(want, hand_over=lambda uow, host: want.id != gone)
        except _Withdrawn:
            return "withdrawn"

    with ThreadPoolExecutor(6) as pool:
        chosen = dict(zip([w.id for w in wants], pool.map(decide, wants), strict=True))
    assert chosen.pop(gone) == "withdrawn" and placement.allocations(gone) == {}
    assert all(c is not None and list(placement.allocations(i)) == [c.node_id] for i, c in chosen.items())
    _, states = placement.provider_changes({})
    assert sum(s.resources["MEMORY_MB"].used for s in states) == 11 * flavor["ram"]
    view = scheduler.view
    assert not view.inflight and all(  # the view counts exactly the claims (settled in commit order)
        view.states[s.uuid].resources["MEMORY_MB"].used == s.resources["MEMORY_MB"].used for s in states
        if view.states[s.uuid].generation == s.generation)
