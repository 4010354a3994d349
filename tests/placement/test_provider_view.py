"""The scheduler's in-memory view of placement: it follows changes made by others, ranks by free RAM,
and claims through it never go over capacity, however stale the view."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.placement.conftest import P, pv


def _alloc(admin, rp, resources):
    return {"allocations": {rp: {"resources": resources}}, "project_id": admin.project_id,
            "user_id": admin.user_id, "consumer_generation": None, "consumer_type": "INSTANCE"}


@pytest.fixture
def view(cloud):
    view = cloud.clients["placement"].view()
    view.MIN_INTERVAL = 0.0  # every refresh() re-reads (no sharing between decisions in a test)
    return view


def _free(view, rp, rc="MEMORY_MB"):
    with view.lock:
        return view.free(rp, rc)


def test_refresh_view_sees_allocations_made_elsewhere(admin, provider, view):
    view.refresh(force=True)
    assert _free(view, provider) == 4096
    consumer = str(uuid.uuid4())
    assert admin.put(f"{P}/allocations/{consumer}", json=_alloc(admin, provider, {"MEMORY_MB": 1024}),
                     headers=pv()).status_code == 204
    view.refresh()
    assert _free(view, provider) == 3072
    assert admin.delete(f"{P}/allocations/{consumer}").status_code == 204
    view.refresh()
    assert _free(view, provider) == 4096


def test_best_ranks_by_free_ram_and_skips_what_does_not_fit(admin, provider, view):
    other = str(uuid.uuid4())
    assert admin.post(f"{P}/resource_providers", json={"name": f"rp-{other[:8]}", "uuid": other},
                      headers=pv()).status_code == 200
    admin.put(f"{P}/resource_providers/{other}/inventories", headers=pv(), json={
        "resource_provider_generation": 0,
        "inventories": {"VCPU": {"total": 1}, "MEMORY_MB": {"total": 8192}, "DISK_GB": {"total": 10}}})
    try:
        view.refresh(force=True)
        candidates = {provider, other}
        with view.lock:
            assert view.best(candidates, {"VCPU": 1, "MEMORY_MB": 64}) == other  # most free RAM
            assert view.best(candidates, {"VCPU": 2, "MEMORY_MB": 64}) == provider  # other has 1 VCPU
            assert view.best(candidates, {"MEMORY_MB": 64}, exclude={other}) == provider
            assert view.best(candidates, {"MEMORY_MB": 9000}) is None
            view.reserve(other, {"MEMORY_MB": 5000})  # a pick in flight counts at once
            assert view.best(candidates, {"MEMORY_MB": 64}) == provider
    finally:
        admin.delete(f"{P}/resource_providers/{other}", headers=pv())


def test_claims_from_stale_view_never_overcommit(cloud, admin, provider, view):
    """Eight deciders share one stale view that says the provider is empty: placement refuses
    every claim past its capacity, and each refusal makes the view re-read the provider."""
    placement = cloud.clients["placement"]
    view.refresh(force=True)

    def decide(_):
        consumer = str(uuid.uuid4())
        with view.lock:
            view.reserve(provider, {"MEMORY_MB": 1000})
        generations = placement.claim_generations(consumer, {provider: {"MEMORY_MB": 1000}},
                                                  admin.project_id, admin.user_id)
        view.settle(provider, {"MEMORY_MB": 1000}, generations)
        return generations is not None

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(decide, range(8)))
    assert won.count(True) == 4
    usages = admin.get(f"{P}/resource_providers/{provider}/usages").json()["usages"]
    assert usages["MEMORY_MB"] == 4000
    view.refresh()
    assert _free(view, provider) == 96 and not view.inflight.get(provider)


def test_provider_changes_reads_usage_only_of_providers_whose_generation_moved(cloud, admin, provider):
    placement = cloud.clients["placement"]
    alive, states = placement.provider_changes({})
    known = {s.uuid: s.generation for s in states}
    assert provider in alive and provider in known
    alive, states = placement.provider_changes(known)  # nothing changed: every provider is known as is
    assert provider in alive and states == []
    consumer = str(uuid.uuid4())
    assert admin.put(f"{P}/allocations/{consumer}", json=_alloc(admin, provider, {"MEMORY_MB": 512}),
                     headers=pv()).status_code == 204
    alive, states = placement.provider_changes(known)
    assert [s.uuid for s in states] == [provider]
    assert states[0].generation == known[provider] + 1 and states[0].resources["MEMORY_MB"].used == 512


def test_full_refresh_forgets_a_deleted_provider(admin, provider, view):
    other = str(uuid.uuid4())
    assert admin.post(f"{P}/resource_providers", json={"name": f"rp-{other[:8]}", "uuid": other},
                      headers=pv()).status_code == 200
    admin.put(f"{P}/resource_providers/{other}/inventories", headers=pv(), json={
        "resource_provider_generation": 0, "inventories": {"MEMORY_MB": {"total": 100000}}})
    view.refresh(force=True)
    with view.lock:
        assert view.best({provider, other}, {"MEMORY_MB": 64}) == other
    assert admin.delete(f"{P}/resource_providers/{other}", headers=pv()).status_code == 204
    view.refresh(force=True)
    assert other not in view.states
    with view.lock:
        assert view.best({provider, other}, {"MEMORY_MB": 64}) == provider


def test_two_views_claiming_at_once_never_overcommit_and_both_converge(cloud, admin, provider):
    """Two schedulers (one view each) race for one provider: placement takes exactly what fits, every
    refused claim marks the provider stale in the view that lost, and after a refresh both views hold
    the provider's committed generation and usage."""
    placement = cloud.clients["placement"]
    views = [placement.view(), placement.view()]
    for v in views:
        v.MIN_INTERVAL = 0.0
        v.refresh(force=True)

    def decide(i):
        v = views[i % 2]
        with v.lock:
            if not v.fits(provider, {"MEMORY_MB": 700}):
                return None
            v.reserve(provider, {"MEMORY_MB": 700})
        generations = placement.claim_generations(str(uuid.uuid4()), {provider: {"MEMORY_MB": 700}},
                                                  admin.project_id, admin.user_id)
        v.settle(provider, {"MEMORY_MB": 700}, generations)
        return generations is not None

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(decide, range(12)))
    assert won.count(True) == 5  # 5 x 700 <= 4096 < 6 x 700
    usages = admin.get(f"{P}/resource_providers/{provider}/usages").json()["usages"]
    generation = admin.get(f"{P}/resource_providers/{provider}", headers=pv()).json()["generation"]
    assert usages["MEMORY_MB"] == 3500
    for v in views:
        v.refresh()
        assert v.states[provider].generation == generation
        assert _free(v, provider) == 4096 - 3500 and not v.inflight.get(provider)
