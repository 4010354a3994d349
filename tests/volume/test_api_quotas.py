"""Quota sets (defaults from unified limits, overrides, usage), limits, zones and services."""

from concurrent.futures import ThreadPoolExecutor

from onestack.core.testing.client import login

from .conftest import LATEST, V3, uid


def make_project(admin, passwords):
    """A fresh project with a member user; returns (session, project_id)."""
    name = uid("qp")
    pid = admin.post("/identity/v3/projects", json={"project": {"name": name, "domain_id": "default"}}
                     ).json()["project"]["id"]
    uid_ = admin.post("/identity/v3/users", json={"user": {"name": name, "password": "pw-" + name,
                                                          "domain_id": "default"}}).json()["user"]["id"]
    role = admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"][0]["id"]
    admin.put(f"/identity/v3/projects/{pid}/users/{uid_}/roles/{role}")
    return login(admin.http, name, "pw-" + name, name), pid, uid_


def drop_project(admin, pid, user_id):
    admin.delete(f"/identity/v3/users/{user_id}")
    admin.patch(f"/identity/v3/projects/{pid}", json={"project": {"enabled": False}})
    admin.delete(f"/identity/v3/projects/{pid}")


def test_show_quota_set_defaults(admin):
    body = admin.get(f"{V3}/os-quota-sets/{admin.project_id}").json()["quota_set"]
    assert body["id"] == admin.project_id
    assert body["volumes"] == 10 and body["gigabytes"] == 1000 and body["snapshots"] == 10
    assert body["backups"] == 10 and body["per_volume_gigabytes"] == -1
    assert "volumes___DEFAULT__" in body
    defaults = admin.get(f"{V3}/os-quota-sets/{admin.project_id}/defaults").json()["quota_set"]
    assert defaults["volumes"] == 10


def test_show_quota_set_usage(admin, vols):
    vols.create(size=2)
    body = admin.get(f"{V3}/os-quota-sets/{admin.project_id}", params={"usage": "true"}).json()["quota_set"]
    assert body["volumes"]["in_use"] >= 1 and body["gigabytes"]["in_use"] >= 2
    assert set(body["volumes"]) == {"limit", "in_use", "reserved", "allocated"}


def test_update_quota_set_enforced_and_exact_under_concurrency(admin, passwords, vols):
    member, pid, user_id = make_project(admin, passwords)
    try:
        _quota_race(admin, member, pid, vols)
    finally:
        drop_project(admin, pid, user_id)


def _quota_race(admin, member, pid, vols):
    resp = admin.put(f"{V3}/os-quota-sets/{pid}", json={"quota_set": {"volumes": 3, "gigabytes": 100}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["quota_set"]["volumes"] == 3

    def create(_):
        return member.post(f"{V3}/volumes", json={"volume": {"size": 1, "name": uid("q")}})

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(create, range(6)))
    created = [r.json()["volume"]["id"] for r in results if r.status_code == 202]
    for vid in created:
        vols.created.append(("volumes", vid, member))
    refused = [r for r in results if r.status_code != 202]
    assert len(created) == 3
    assert all(r.status_code == 413 and "overLimit" in r.json() for r in refused)
    too_big = member.post(f"{V3}/volumes", json={"volume": {"size": 200}})
    assert too_big.status_code == 413
    assert member.put(f"{V3}/os-quota-sets/{pid}", json={"quota_set": {"volumes": 5}}).status_code == 403
    assert admin.put(f"{V3}/os-quota-sets/{pid}", json={"quota_set": {"volumes": 1}}).status_code == 400
    assert admin.put(f"{V3}/os-quota-sets/{pid}", json={"quota_set": {"bogus": 1}}).status_code == 400
    assert admin.delete(f"{V3}/os-quota-sets/{pid}").status_code == 200
    assert admin.get(f"{V3}/os-quota-sets/{pid}").json()["quota_set"]["volumes"] == 10


def test_quota_default_follows_registered_limit(admin, cloud):
    body = admin.get(f"{V3}/os-quota-sets/{admin.project_id}/defaults").json()["quota_set"]
    service = admin.get("/identity/v3/services", params={"type": "block-storage"}).json()["services"][0]
    limits = admin.get("/identity/v3/registered_limits", params={"service_id": service["id"]}).json()
    names = {r["resource_name"]: r["default_limit"] for r in limits["registered_limits"]}
    assert names["volumes"] == body["volumes"] and names["gigabytes"] == body["gigabytes"]


def test_show_limits(admin, vols):
    vols.create()
    absolute = admin.get(f"{V3}/limits").json()["limits"]["absolute"]
    assert absolute["maxTotalVolumes"] == 10 and absolute["totalVolumesUsed"] >= 1


def test_list_availability_zones(demo):
    body = demo.get(f"{V3}/os-availability-zone").json()
    assert body == {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]}


def test_list_services_admin_only(admin, demo):
    services = admin.get(f"{V3}/os-services", headers=LATEST).json()["services"]
    assert {s["binary"] for s in services} == {"cinder-scheduler", "cinder-volume", "cinder-backup"}
    assert all(s["state"] == "up" for s in services)
    assert demo.get(f"{V3}/os-services").status_code == 403
