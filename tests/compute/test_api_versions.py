from tests.compute.conftest import C, mv


def test_list_versions_root_shows_v21_with_microversion_range(http):
    resp = http.get("/compute/")
    assert resp.status_code == 200
    (v21,) = [v for v in resp.json()["versions"] if v["id"] == "v2.1"]
    assert v21["min_version"] == "2.1" and v21["version"] == "2.100"
    assert v21["links"][0]["href"].endswith("/compute/v2.1/")


def test_show_version_v21_without_token(http):
    resp = http.get(f"{C}/")
    assert resp.status_code == 200
    assert resp.json()["version"]["status"] == "CURRENT"


def test_negotiate_microversion_echoes_header(admin):
    resp = admin.get(f"{C}/flavors", headers=mv("2.55"))
    assert resp.headers["OpenStack-API-Version"] == "compute 2.55"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.55"


def test_negotiate_microversion_legacy_header_and_latest(admin):
    resp = admin.get(f"{C}/flavors", headers={"X-OpenStack-Nova-API-Version": "latest"})
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.100"
    assert admin.get(f"{C}/flavors").headers["OpenStack-API-Version"] == "compute 2.1"


def test_negotiate_microversion_unsupported_is_406(admin):
    resp = admin.get(f"{C}/flavors", headers=mv("2.999"))
    assert resp.status_code == 406
    assert "notAcceptable" in resp.json()


def test_get_unknown_path_is_404_in_nova_format(admin):
    resp = admin.get(f"{C}/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["code"] == 404


def test_list_flavors_carries_compute_request_id_header(admin):
    # Nova answers with both request-id headers; Tempest's compute tests look for X-Compute-Request-Id.
    resp = admin.get("/compute/v2.1/flavors")
    assert resp.status_code == 200
    assert resp.headers["X-Compute-Request-Id"] == resp.headers["X-Openstack-Request-Id"]
    assert "X-Compute-Request-Id" not in admin.get("/identity/v3/projects").headers
