import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.placement.conftest import P, pv


def _alloc(project, user, rp, resources, generation=None):
    return {"allocations": {rp: {"resources": resources}}, "project_id": project, "user_id": user,
            "consumer_generation": generation, "consumer_type": "INSTANCE"}


def test_set_allocations_then_usages(admin, provider):
    consumer = str(uuid.uuid4())
    resp = admin.put(f"{P}/allocations/{consumer}", headers=pv(),
                     json=_alloc(admin.project_id, admin.user_id, provider, {"VCPU": 2, "MEMORY_MB": 512}))
    assert resp.status_code == 204, resp.text
    shown = admin.get(f"{P}/allocations/{consumer}", headers=pv()).json()
    assert shown["allocations"][provider]["resources"] == {"VCPU": 2, "MEMORY_MB": 512}
    assert shown["consumer_generation"] == 0 and shown["project_id"] == admin.project_id
    usages = admin.get(f"{P}/resource_providers/{provider}/usages").json()["usages"]
    assert usages == {"VCPU": 2, "MEMORY_MB": 512, "DISK_GB": 0}
    project = admin.get(f"{P}/usages?project_id={admin.project_id}", headers=pv("1.9")).json()["usages"]
    assert project["VCPU"] >= 2
    assert admin.delete(f"{P}/allocations/{consumer}").status_code == 204
    assert admin.delete(f"{P}/allocations/{consumer}").status_code == 404


def test_set_allocations_wrong_consumer_generation_is_409(admin, provider):
    consumer = str(uuid.uuid4())
    body = _alloc(admin.project_id, admin.user_id, provider, {"VCPU": 1})
    assert admin.put(f"{P}/allocations/{consumer}", json=body, headers=pv()).status_code == 204
    resp = admin.put(f"{P}/allocations/{consumer}", json=body, headers=pv())
    assert resp.status_code == 409 and resp.json()["errors"][0]["code"] == "placement.concurrent_update"


def test_set_allocations_over_capacity_is_409(admin, provider):
    resp = admin.put(f"{P}/allocations/{uuid.uuid4()}", headers=pv(),
                     json=_alloc(admin.project_id, admin.user_id, provider, {"VCPU": 17}))
    assert resp.status_code == 409


def test_set_allocations_concurrent_claims_never_overcommit(admin, provider):
    def claim(_):
        return admin.put(f"{P}/allocations/{uuid.uuid4()}", headers=pv(),
                         json=_alloc(admin.project_id, admin.user_id, provider, {"MEMORY_MB": 1000})).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(claim, range(8)))
    assert codes.count(204) == 4 and codes.count(409) == 4


def test_list_allocation_candidates_shapes(admin, provider):
    url = f"{P}/allocation_candidates?resources=VCPU:1,MEMORY_MB:64&limit=1000"
    body = admin.get(url, headers=pv("1.39")).json()
    req = next(r for r in body["allocation_requests"] if provider in r["allocations"])
    assert req["allocations"][provider]["resources"] == {"VCPU": 1, "MEMORY_MB": 64}
    assert req["mappings"] == {"": [provider]}
    summary = body["provider_summaries"][provider]
    assert summary["resources"]["VCPU"] == {"capacity": 16, "used": 0} and "DISK_GB" in summary["resources"]
    old = admin.get(url, headers=pv("1.10")).json()
    assert any(a["allocations"][0]["resource_provider"]["uuid"] == provider for a in old["allocation_requests"])
    none = admin.get(f"{P}/allocation_candidates?resources=VCPU:1000", headers=pv()).json()
    assert none == {"allocation_requests": [], "provider_summaries": {}}


def test_post_allocations_moves_between_consumers(admin, provider):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    admin.put(f"{P}/allocations/{a}", json=_alloc(admin.project_id, admin.user_id, provider, {"VCPU": 2}),
              headers=pv())
    body = {a: {**_alloc(admin.project_id, admin.user_id, provider, {"VCPU": 1}), "consumer_generation": 0},
            b: _alloc(admin.project_id, admin.user_id, provider, {"VCPU": 1})}
    for item in body.values():
        item.pop("consumer_type")
    assert admin.post(f"{P}/allocations", json=body, headers=pv("1.28")).status_code == 204
    assert admin.get(f"{P}/allocations/{b}").json()["allocations"][provider]["resources"] == {"VCPU": 1}
