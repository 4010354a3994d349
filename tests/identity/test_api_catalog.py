"""Regions, services, endpoints and the catalog they make."""

from .conftest import V3, uid


def _create(admin, path: str, key: str, body: dict, cleanup: list) -> dict:
    resp = admin.post(f"{V3}/{path}", json={key: body})
    assert resp.status_code == 201, resp.text
    item = resp.json()[key]
    cleanup.append(f"{V3}/{path}/{item['id']}")
    return item


def _cleanup(admin, paths: list) -> None:
    for path in reversed(paths):
        admin.delete(path)


def test_list_regions_has_default_region(admin):
    assert "RegionOne" in {r["id"] for r in admin.get(f"{V3}/regions").json()["regions"]}


def test_create_show_update_delete_region(admin):
    cleanup: list = []
    try:
        region_id = uid("region")
        region = _create(admin, "regions", "region", {"id": region_id, "description": "r"}, cleanup)
        assert region["id"] == region_id and region["parent_region_id"] is None
        assert region["links"]["self"].endswith(f"/v3/regions/{region_id}")
        assert admin.post(f"{V3}/regions", json={"region": {"id": region_id}}).status_code == 409
        child = _create(admin, "regions", "region", {"parent_region_id": region_id}, cleanup)
        assert child["parent_region_id"] == region_id and child["id"]
        children = admin.get(f"{V3}/regions", params={"parent_region_id": region_id}).json()["regions"]
        assert [r["id"] for r in children] == [child["id"]]
        resp = admin.patch(f"{V3}/regions/{region_id}", json={"region": {"description": "changed"}})
        assert resp.status_code == 200 and resp.json()["region"]["description"] == "changed"
        # A region cannot become its own ancestor.
        resp = admin.patch(f"{V3}/regions/{region_id}", json={"region": {"parent_region_id": child["id"]}})
        assert resp.status_code == 400
        assert admin.delete(f"{V3}/regions/{region_id}").status_code in (403, 409)
    finally:
        _cleanup(admin, cleanup)
    assert admin.get(f"{V3}/regions/{region_id}").status_code == 404


def test_create_region_with_put(admin):
    region_id = uid("putregion")
    resp = admin.put(f"{V3}/regions/{region_id}", json={"region": {"description": "p"}})
    assert resp.status_code == 201
    assert resp.json()["region"]["id"] == region_id
    assert admin.delete(f"{V3}/regions/{region_id}").status_code == 204


def test_create_region_missing_parent_is_404(admin):
    resp = admin.post(f"{V3}/regions", json={"region": {"parent_region_id": uid()}})
    assert resp.status_code == 404


def test_create_service_and_endpoints_appear_in_catalog(admin, demo):
    cleanup: list = []
    try:
        stype = uid("svc")
        service = _create(admin, "services", "service", {"type": stype, "name": "fake", "description": "d"},
                          cleanup)
        assert service["type"] == stype and service["enabled"] is True
        assert service["links"]["self"].endswith(f"/v3/services/{service['id']}")
        urls = {}
        for interface in ("public", "internal", "admin"):
            url = f"http://example.org/{interface}"
            endpoint = _create(admin, "endpoints", "endpoint", {"service_id": service["id"], "interface": interface,
                                                                "url": url, "region_id": "RegionOne"}, cleanup)
            assert endpoint["region_id"] == "RegionOne" and endpoint["region"] == "RegionOne"
            assert endpoint["enabled"] is True
            urls[interface] = url
        for session in (admin, demo):
            catalog = session.get(f"{V3}/auth/catalog").json()["catalog"]
            entry = next(s for s in catalog if s["type"] == stype)
            assert entry["name"] == "fake"
            assert {e["interface"]: e["url"] for e in entry["endpoints"]} == urls
        # A fresh token carries the new service, too.
        validated = admin.get(f"{V3}/auth/tokens", headers={"X-Subject-Token": admin.token}).json()
        assert stype in {s["type"] for s in validated["token"]["catalog"]}
        # Disabled services drop out of the catalog.
        admin.patch(f"{V3}/services/{service['id']}", json={"service": {"enabled": False}})
        assert stype not in {s["type"] for s in admin.get(f"{V3}/auth/catalog").json()["catalog"]}
    finally:
        _cleanup(admin, cleanup)


def test_list_services_and_endpoints_filters(admin):
    cleanup: list = []
    try:
        stype = uid("svc")
        service = _create(admin, "services", "service", {"type": stype}, cleanup)
        public = _create(admin, "endpoints", "endpoint", {"service_id": service["id"], "interface": "public",
                                                          "url": "http://a.example/"}, cleanup)
        _create(admin, "endpoints", "endpoint", {"service_id": service["id"], "interface": "internal",
                                                 "url": "http://b.example/"}, cleanup)
        assert [s["id"] for s in admin.get(f"{V3}/services", params={"type": stype}).json()["services"]] == [
            service["id"]]
        by_service = admin.get(f"{V3}/endpoints", params={"service_id": service["id"]}).json()["endpoints"]
        assert len(by_service) == 2
        public_only = admin.get(f"{V3}/endpoints", params={"service_id": service["id"], "interface": "public"})
        assert [e["id"] for e in public_only.json()["endpoints"]] == [public["id"]]
    finally:
        _cleanup(admin, cleanup)


def test_update_and_delete_endpoint(admin):
    cleanup: list = []
    try:
        service = _create(admin, "services", "service", {"type": uid("svc")}, cleanup)
        endpoint = _create(admin, "endpoints", "endpoint", {"service_id": service["id"], "interface": "public",
                                                            "url": "http://a.example/"}, cleanup)
        resp = admin.patch(f"{V3}/endpoints/{endpoint['id']}", json={"endpoint": {"url": "http://c.example/",
                                                                                  "enabled": False}})
        assert resp.status_code == 200
        assert (resp.json()["endpoint"]["url"], resp.json()["endpoint"]["enabled"]) == ("http://c.example/", False)
        assert admin.delete(f"{V3}/endpoints/{endpoint['id']}").status_code == 204
        assert admin.get(f"{V3}/endpoints/{endpoint['id']}").status_code == 404
    finally:
        _cleanup(admin, cleanup)


def test_delete_service_removes_its_endpoints(admin):
    cleanup: list = []
    service = _create(admin, "services", "service", {"type": uid("svc")}, cleanup)
    endpoint = _create(admin, "endpoints", "endpoint", {"service_id": service["id"], "interface": "public",
                                                        "url": "http://a.example/"}, cleanup)
    assert admin.delete(f"{V3}/services/{service['id']}").status_code == 204
    assert admin.get(f"{V3}/services/{service['id']}").status_code == 404
    assert admin.get(f"{V3}/endpoints/{endpoint['id']}").status_code == 404


def test_create_endpoint_bad_interface_is_400_naming_field(admin):
    cleanup: list = []
    try:
        service = _create(admin, "services", "service", {"type": uid("svc")}, cleanup)
        resp = admin.post(f"{V3}/endpoints", json={"endpoint": {"service_id": service["id"], "interface": "secret",
                                                                "url": "http://a.example/"}})
        assert resp.status_code == 400
        assert "interface" in resp.json()["error"]["message"]
    finally:
        _cleanup(admin, cleanup)


def test_create_endpoint_missing_service_is_4xx(admin):
    resp = admin.post(f"{V3}/endpoints", json={"endpoint": {"service_id": uid(), "interface": "public",
                                                            "url": "http://a.example/"}})
    assert resp.status_code in (400, 404)


def test_create_service_without_type_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/services", json={"service": {"name": "x"}})
    assert resp.status_code == 400
    assert "type" in resp.json()["error"]["message"]


def test_catalog_admin_apis_as_member_are_403(demo):
    assert demo.get(f"{V3}/services").status_code == 403
    assert demo.get(f"{V3}/endpoints").status_code == 403
    assert demo.post(f"{V3}/services", json={"service": {"type": "x"}}).status_code == 403
    assert demo.post(f"{V3}/regions", json={"region": {}}).status_code == 403
    assert demo.get(f"{V3}/regions").status_code == 200  # regions are readable by anyone, as upstream
