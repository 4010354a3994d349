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
