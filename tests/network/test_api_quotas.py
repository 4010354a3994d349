from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from onestack.network.service.common import QUOTA_DEFAULTS

from .conftest import N, create, error_type, uid


def test_show_quota_defaults_come_from_unified_limits(admin, member):
    quota = member.get(f"{N}/quotas/{member.project_id}").json()["quota"]
    assert quota["network"] == QUOTA_DEFAULTS["network"] and quota["port"] == QUOTA_DEFAULTS["port"]
    services = admin.get("/identity/v3/services", params={"type": "network"}).json()["services"]
    limits = admin.get("/identity/v3/registered_limits", params={"service_id": services[0]["id"]}).json()
    assert {r["resource_name"] for r in limits["registered_limits"]} >= {"network", "port", "router"}


def test_show_quota_details_counts_usage(admin, member):
    create(member, "networks", {"name": uid()})
    details = member.get(f"{N}/quotas/{member.project_id}/details").json()["quota"]
    assert details["network"]["used"] == 1 and details["network"]["reserved"] == 0
    assert member.get(f"{N}/quotas/{admin.project_id}").status_code == 403


def test_update_quota_enforced_and_exact_under_concurrency(admin, member):
    resp = admin.put(f"{N}/quotas/{member.project_id}", json={"quota": {"network": 5}})
    assert resp.status_code == 200 and resp.json()["quota"]["network"] == 5
    assert member.put(f"{N}/quotas/{member.project_id}", json={"quota": {"network": 50}}).status_code == 403

    def attempt(i):
        return member.post(f"{N}/networks", json={"network": {"name": f"q{i}"}}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(12)))
    assert codes.count(201) == 5 and codes.count(409) == 7
    over = member.post(f"{N}/networks", json={"network": {"name": "again"}})
    assert over.status_code == 409 and error_type(over) == "OverQuota"
    listed = admin.get(f"{N}/quotas").json()["quotas"]
    assert any(q["project_id"] == member.project_id for q in listed)
    assert admin.delete(f"{N}/quotas/{member.project_id}").status_code == 204
    assert member.get(f"{N}/quotas/{member.project_id}").json()["quota"]["network"] == QUOTA_DEFAULTS["network"]
    bad = admin.put(f"{N}/quotas/{member.project_id}", json={"quota": {"bogus": 1}})
    assert bad.status_code == 400
