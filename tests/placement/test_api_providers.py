import uuid

from tests.placement.conftest import P, pv


def test_list_versions_placement_root(http):
    body = http.get(f"{P}/").json()
    assert body["versions"][0]["max_version"] == "1.39" and body["versions"][0]["min_version"] == "1.0"


def test_create_provider_old_microversion_is_201_with_location(admin):
    name = f"rp-{uuid.uuid4().hex[:8]}"
    resp = admin.post(f"{P}/resource_providers", json={"name": name}, headers=pv("1.0"))
    assert resp.status_code == 201 and "/placement/resource_providers/" in resp.headers["Location"]
    rp_uuid = resp.headers["Location"].rsplit("/", 1)[1]
    shown = admin.get(f"{P}/resource_providers/{rp_uuid}", headers=pv("1.14")).json()
    assert shown["name"] == name and shown["root_provider_uuid"] == rp_uuid and shown["generation"] == 0
    assert admin.delete(f"{P}/resource_providers/{rp_uuid}").status_code == 204


def test_create_provider_duplicate_name_is_409(admin, provider):
    name = admin.get(f"{P}/resource_providers/{provider}").json()["name"]
    resp = admin.post(f"{P}/resource_providers", json={"name": name}, headers=pv())
    assert resp.status_code == 409
    err = resp.json()["errors"][0]
    assert err["status"] == 409 and err["code"] == "placement.duplicate_name"


def test_list_providers_filters_by_name_and_resources(admin, provider):
    name = admin.get(f"{P}/resource_providers/{provider}").json()["name"]
    found = admin.get(f"{P}/resource_providers?name={name}", headers=pv()).json()["resource_providers"]
    assert [r["uuid"] for r in found] == [provider]
    big = admin.get(f"{P}/resource_providers?resources=VCPU:17", headers=pv()).json()["resource_providers"]
    assert provider not in [r["uuid"] for r in big]
    fits = admin.get(f"{P}/resource_providers?resources=VCPU:8", headers=pv()).json()["resource_providers"]
    assert provider in [r["uuid"] for r in fits]


def test_update_inventories_stale_generation_is_409(admin, provider):
    resp = admin.put(f"{P}/resource_providers/{provider}/inventories",
                     json={"resource_provider_generation": 0, "inventories": {}}, headers=pv())
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.concurrent_update"


def test_show_inventory_and_update_single_class(admin, provider):
    inv = admin.get(f"{P}/resource_providers/{provider}/inventories/VCPU").json()
    assert inv["total"] == 8 and inv["allocation_ratio"] == 2.0
    resp = admin.put(f"{P}/resource_providers/{provider}/inventories/VCPU",
                     json={"resource_provider_generation": inv["resource_provider_generation"], "total": 16})
    assert resp.status_code == 200 and resp.json()["total"] == 16


def test_update_inventory_unknown_class_is_400(admin, provider):
    gen = admin.get(f"{P}/resource_providers/{provider}").json()["generation"]
    resp = admin.put(f"{P}/resource_providers/{provider}/inventories",
                     json={"resource_provider_generation": gen, "inventories": {"CUSTOM_NOPE": {"total": 1}}})
    assert resp.status_code == 400


def test_set_provider_traits_custom_and_unknown(admin, provider):
    assert admin.put(f"{P}/traits/CUSTOM_GOLD", headers=pv()).status_code in (201, 204)
    gen = admin.get(f"{P}/resource_providers/{provider}").json()["generation"]
    resp = admin.put(f"{P}/resource_providers/{provider}/traits", headers=pv(),
                     json={"traits": ["CUSTOM_GOLD", "HW_CPU_X86_AVX2"], "resource_provider_generation": gen})
    assert resp.status_code == 200 and resp.json()["traits"] == ["CUSTOM_GOLD", "HW_CPU_X86_AVX2"]
    listed = admin.get(f"{P}/traits?name=startswith:CUSTOM_&associated=true", headers=pv()).json()["traits"]
    assert "CUSTOM_GOLD" in listed
    bad = admin.put(f"{P}/resource_providers/{provider}/traits", headers=pv(),
                    json={"traits": ["CUSTOM_NOT_THERE"], "resource_provider_generation": gen + 1})
    assert bad.status_code == 400


def test_set_provider_aggregates_with_generation(admin, provider):
    agg = str(uuid.uuid4())
    gen = admin.get(f"{P}/resource_providers/{provider}").json()["generation"]
    resp = admin.put(f"{P}/resource_providers/{provider}/aggregates", headers=pv("1.19"),
                     json={"aggregates": [agg], "resource_provider_generation": gen})
    assert resp.status_code == 200 and resp.json()["aggregates"] == [agg]
    members = admin.get(f"{P}/resource_providers?member_of={agg}", headers=pv()).json()["resource_providers"]
    assert [r["uuid"] for r in members] == [provider]


def test_create_resource_class_custom_then_delete(admin):
    name = f"CUSTOM_C{uuid.uuid4().hex[:8].upper()}"
    assert admin.post(f"{P}/resource_classes", json={"name": name}, headers=pv()).status_code == 201
    assert admin.get(f"{P}/resource_classes/{name}", headers=pv()).json()["name"] == name
    assert admin.put(f"{P}/resource_classes/{name}", headers=pv()).status_code == 204
    assert admin.delete(f"{P}/resource_classes/{name}", headers=pv()).status_code == 204
    assert admin.delete(f"{P}/resource_classes/VCPU", headers=pv()).status_code == 400


def test_list_providers_as_member_is_403(demo):
    assert demo.get(f"{P}/resource_providers").status_code == 403
