"""Version discovery and microversion negotiation."""

from .conftest import V3


def test_list_versions_root_is_public(http):
    resp = http.get("/volume/")
    assert resp.status_code == 300
    (v3,) = resp.json()["versions"]
    assert v3["id"] == "v3.0" and v3["min_version"] == "3.0" and v3["version"] == "3.71"
    assert v3["status"] == "CURRENT"
    assert any(link["rel"] == "self" and link["href"].endswith("/volume/v3/") for link in v3["links"])


def test_show_version_v3(http):
    resp = http.get("/volume/v3/")
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["version"] == "3.71"


def test_negotiate_microversion_latest(admin):
    resp = admin.get(f"{V3}/volumes", headers={"OpenStack-API-Version": "volume latest"})
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == "volume 3.71"


def test_negotiate_microversion_default_is_3_0(admin):
    resp = admin.get(f"{V3}/volumes")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"


def test_negotiate_microversion_out_of_range_is_406(admin):
    resp = admin.get(f"{V3}/volumes", headers={"OpenStack-API-Version": "volume 3.72"})
    assert resp.status_code == 406
    assert "notAcceptable" in resp.json()


def test_list_volumes_without_token_is_401(http):
    resp = http.get(f"{V3}/volumes")
    assert resp.status_code == 401
    assert resp.json()["unauthorized"]["code"] == 401


def test_unknown_path_is_404_in_cinder_format(admin):
    resp = admin.get(f"{V3}/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["code"] == 404


def test_catalog_lists_block_storage_and_volumev3(admin):
    resp = admin.get("/identity/v3/auth/catalog")
    types = {entry["type"]: entry for entry in resp.json()["catalog"]}
    for type_ in ("block-storage", "volumev3"):
        urls = [e["url"] for e in types[type_]["endpoints"]]
        assert any(url.endswith("/volume/v3") for url in urls)
