from .conftest import V2


def test_list_versions_root_multiple_choices(http):
    resp = http.get("/image")
    assert resp.status_code == 300
    versions = resp.json()["versions"]
    current = [v for v in versions if v["status"] == "CURRENT"]
    assert len(current) == 1 and current[0]["id"].startswith("v2.")
    assert current[0]["links"][0]["href"].endswith("/image/v2/")
    assert {"v2.0", "v2.1"} <= {v["id"] for v in versions}


def test_list_versions_explicit_ok(http):
    resp = http.get("/image/versions")
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["status"] == "CURRENT"


def test_list_images_without_token_unauthorized(http):
    assert http.get(f"{V2}/images").status_code == 401


def test_show_schemas_image_images_member_members(admin):
    image = admin.get(f"{V2}/schemas/image").json()
    assert image["name"] == "image"
    assert image["additionalProperties"] == {"type": "string"}
    assert image["properties"]["status"]["readOnly"] is True
    assert None in image["properties"]["disk_format"]["enum"]
    assert {link["rel"] for link in image["links"]} == {"self", "enclosure", "describedby"}
    images = admin.get(f"{V2}/schemas/images").json()
    assert images["name"] == "images" and images["properties"]["images"]["items"]["name"] == "image"
    member = admin.get(f"{V2}/schemas/member").json()
    assert member["name"] == "member" and member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    assert admin.get(f"{V2}/schemas/members").json()["name"] == "members"


def test_show_import_info_lists_glance_direct_only(admin):
    body = admin.get(f"{V2}/info/import").json()
    assert body["import-methods"]["value"] == ["glance-direct"]


def test_list_stores_has_default_file_store(admin, demo):
    stores = demo.get(f"{V2}/info/stores").json()["stores"]
    assert stores == [{"id": "file", "description": stores[0]["description"], "default": "true"}]
    assert demo.get(f"{V2}/info/stores/detail").status_code == 403
    detail = admin.get(f"{V2}/info/stores/detail").json()["stores"][0]
    assert detail["type"] == "file"


def test_show_usage_reports_limits(demo):
    usage = demo.get(f"{V2}/info/usage").json()["usage"]
    assert set(usage) == {"image_size_total", "image_stage_total", "image_count_total", "image_count_uploading"}
    assert usage["image_count_total"]["limit"] > 0
