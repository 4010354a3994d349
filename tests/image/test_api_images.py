import json
import uuid

import pytest

from .conftest import PATCH, V2, patch, uid


def test_create_image_defaults_queued_shared(images, admin):
    image = images.create(name="basic", disk_format="qcow2", container_format="bare")
    assert image["status"] == "queued" and image["visibility"] == "shared"
    for key in ("checksum", "size", "virtual_size", "os_hash_algo", "os_hash_value"):
        assert image[key] is None
    assert image["protected"] is False and image["os_hidden"] is False
    assert image["self"] == f"/v2/images/{image['id']}" and image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image" and image["tags"] == []
    assert image["owner"] == admin.project_id
    assert image["created_at"].endswith("Z") and len(image["created_at"]) == 20
    uuid.UUID(image["id"])


def test_create_image_headers_location_and_import_methods(admin, images):
    resp = admin.post(f"{V2}/images", json={"name": uid()})
    images.ids.append(resp.json()["id"])
    assert resp.status_code == 201
    assert resp.headers["Location"].endswith(f"/v2/images/{resp.json()['id']}")
    assert resp.headers["OpenStack-image-import-methods"] == "glance-direct"


def test_create_image_with_id_tags_properties(images):
    image_id = str(uuid.uuid4())
    image = images.create(id=image_id, tags=["a", "b", "a"], os_distro="debian", custom="v", min_ram=512)
    assert image["id"] == image_id and image["tags"] == ["a", "b"]
    assert image["os_distro"] == "debian" and image["custom"] == "v" and image["min_ram"] == 512


def test_create_image_duplicate_id_conflict(images):
    image = images.create()
    images.create(id=image["id"], expect=409)


@pytest.mark.parametrize("body,status", [
    ({"disk_format": "floppy"}, 400),
    ({"container_format": "zip"}, 400),
    ({"visibility": "everyone"}, 400),
    ({"min_ram": "lots"}, 400),
    ({"min_disk": -1}, 400),
    ({"custom": 5}, 400),
    ({"id": "not-a-uuid"}, 400),
    ({"kernel_id": "nope"}, 400),
    ({"name": "x" * 256}, 400),
    ({"status": "active"}, 403),
    ({"checksum": "abc"}, 403),
    ({"size": 5}, 403),
    ({"self": "/x"}, 403),
    ({"deleted": "true"}, 403),
    ({"os_glance_foo": "x"}, 403),
    ({"x" * 256: "v"}, 400),
])
def test_create_image_bad_input_rejected(admin, body, status):
    resp = admin.post(f"{V2}/images", json={"name": uid(), **body})
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == status and resp.json()["message"]
    name = body.get("name") or None
    assert not [i for i in admin.get(f"{V2}/images", params={"name": name or "x"}).json()["images"]
                if i.get("custom") == 5]


def test_create_image_not_json_bad_request(admin):
    resp = admin.post(f"{V2}/images", content=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_create_public_image_member_forbidden(demo, images):
    images.create(demo, visibility="public", expect=403)
    images.create(demo, visibility="community")


def test_create_image_for_other_owner_forbidden_for_member(demo, admin, images):
    images.create(demo, owner=admin.project_id, expect=403)
    image = images.create(admin, owner=demo.project_id)
    assert image["owner"] == demo.project_id


def test_show_image_not_found(admin):
    resp = admin.get(f"{V2}/images/{uuid.uuid4()}")
    assert resp.status_code == 404 and "No image found" in resp.json()["message"]


def test_show_image_null_id_not_found(admin):
    assert admin.get(f"{V2}/images/").status_code == 404
    assert admin.delete(f"{V2}/images/").status_code == 404


def test_show_private_image_of_other_project_not_found(demo, images):
    private = images.create(visibility="private")
    shared = images.create(visibility="shared")
    assert demo.get(f"{V2}/images/{private['id']}").status_code == 404
    assert demo.get(f"{V2}/images/{shared['id']}").status_code == 404
    assert demo.delete(f"{V2}/images/{private['id']}").status_code == 404


def test_show_public_and_community_images_visible_to_all(demo, images):
    public = images.create(visibility="public")
    community = images.create(visibility="community")
    assert demo.get(f"{V2}/images/{public['id']}").status_code == 200
    assert demo.get(f"{V2}/images/{community['id']}").status_code == 200
    assert patch(demo, public["id"], [{"op": "replace", "path": "/name", "value": "x"}]).status_code == 403
    assert demo.delete(f"{V2}/images/{public['id']}").status_code == 403


# -- list -----------------------------------------------------------------------------------------


def _ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [i["id"] for i in resp.json()["images"]]


def test_list_images_envelope(admin, images):
    images.create()
    body = admin.get(f"{V2}/images").json()
    assert body["first"] == "/v2/images" and body["schema"] == "/v2/schemas/images"


def test_list_images_filters(admin, images):
    tag = uid("tag")
    a = images.active(data=b"a" * 100, tags=[tag, "common"], disk_format="raw", prop=tag)
    b = images.active(data=b"b" * 300, tags=[tag], disk_format="iso", container_format="ova")
    c = images.create(tags=[tag], visibility="private")
    base = {"tag": tag}
    assert set(_ids(admin.get(f"{V2}/images", params=base))) == {a["id"], b["id"], c["id"]}
    assert _ids(admin.get(f"{V2}/images", params={**base, "name": a["name"]})) == [a["id"]]
    assert set(_ids(admin.get(f"{V2}/images", params={**base, "name": f"in:{a['name']},{b['name']}"}))) == \
        {a["id"], b["id"]}
    assert _ids(admin.get(f"{V2}/images", params={**base, "status": "queued"})) == [c["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "disk_format": "iso"})) == [b["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "container_format": "ova"})) == [b["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "visibility": "private"})) == [c["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "size_min": 200})) == [b["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "size_max": 200})) == [a["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "size": 300})) == [b["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "min_ram": 0, "status": "active", "size": 100})) == \
        [a["id"]]
    assert _ids(admin.get(f"{V2}/images", params=[("tag", tag), ("tag", "common")])) == [a["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "prop": tag})) == [a["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "owner": admin.project_id, "id": f"in:{c['id']}"})) \
        == [c["id"]]
    assert _ids(admin.get(f"{V2}/images", params={**base, "checksum": a["checksum"]})) == [a["id"]]


def test_list_images_time_filters(admin, images):
    tag = uid("tag")
    image = images.create(tags=[tag])
    created = image["created_at"]
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "created_at": f"gte:{created}"})) == [image["id"]]
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "created_at": f"lt:{created}"})) == []
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "updated_at": "gt:2000-01-01T00:00:00Z"})) \
        == [image["id"]]


@pytest.mark.parametrize("params", [
    {"created_at": "between:2020-01-01T00:00:00Z"}, {"created_at": "gt:yesterday"}, {"size_min": "big"},
    {"visibility": "everyone"}, {"member_status": "maybe"}, {"limit": "x"}, {"limit": "-1"},
    {"sort_key": "owner"}, {"sort_dir": "up"}, {"sort": "name:sideways"}, {"sort": "name", "sort_key": "id"},
    {"os_hidden": "maybe"}, {"changes-since": "2020-01-01"}, {"marker": str(uuid.uuid4())},
])
def test_list_images_bad_query_bad_request(admin, params):
    resp = admin.get(f"{V2}/images", params=params)
    assert resp.status_code == 400, resp.text


def test_list_images_sorting(admin, images):
    tag = uid("tag")
    names = ["b-" + tag, "a-" + tag, "c-" + tag]
    made = [images.active(name=n, tags=[tag], data=b"x" * (i + 1)) for i, n in enumerate(names)]
    by_name = sorted(made, key=lambda i: i["name"])
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "sort_key": "name", "sort_dir": "asc"})) == \
        [i["id"] for i in by_name]
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "sort": "name:desc"})) == \
        [i["id"] for i in reversed(by_name)]
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "sort": "size:asc,name"})) == [i["id"] for i in made]
    default = _ids(admin.get(f"{V2}/images", params={"tag": tag}))
    assert default == [i["id"] for i in reversed(made)]  # newest first


def test_list_images_pagination_next_links(admin, images):
    tag = uid("tag")
    made = {images.create(tags=[tag])["id"] for _ in range(5)}
    seen: list[str] = []
    url = f"{V2}/images?tag={tag}&limit=2"
    pages = 0
    while url:
        body = admin.get(url).json()
        seen += [i["id"] for i in body["images"]]
        assert "limit=2" in body["first"]
        nxt = body.get("next")
        url = f"/image{nxt}" if nxt else None
        pages += 1
    assert len(seen) == 5 and set(seen) == made
    assert pages == 3


def test_list_images_default_limit_25(admin, images):
    tag = uid("tag")
    for _ in range(26):
        images.create(tags=[tag])
    body = admin.get(f"{V2}/images", params={"tag": tag}).json()
    assert len(body["images"]) == 25 and "next" in body


def test_list_images_hidden_only_when_asked(admin, images):
    tag = uid("tag")
    hidden = images.create(tags=[tag], os_hidden=True)
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag})) == []
    assert _ids(admin.get(f"{V2}/images", params={"tag": tag, "os_hidden": "true"})) == [hidden["id"]]


def test_list_images_project_isolation(demo, images):
    tag = uid("tag")
    private = images.create(tags=[tag], visibility="private")
    shared = images.create(tags=[tag], visibility="shared")
    public = images.create(tags=[tag], visibility="public")
    community = images.create(tags=[tag], visibility="community")
    own = images.create(demo, tags=[tag], visibility="private")
    own_community = images.create(demo, tags=[tag], visibility="community")
    listed = set(_ids(demo.get(f"{V2}/images", params={"tag": tag})))
    assert listed == {public["id"], own["id"], own_community["id"]}
    assert private["id"] not in listed and shared["id"] not in listed
    assert set(_ids(demo.get(f"{V2}/images", params={"tag": tag, "visibility": "community"}))) == \
        {community["id"], own_community["id"]}
    assert set(_ids(demo.get(f"{V2}/images", params={"tag": tag, "visibility": "all"}))) == \
        {public["id"], own["id"], community["id"], own_community["id"]}
    assert _ids(demo.get(f"{V2}/images", params={"tag": tag, "visibility": "private"})) == [own["id"]]


# -- update ---------------------------------------------------------------------------------------


def test_update_image_json_patch(admin, images):
    image = images.create(kernel_note="k")
    ops = [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/os_distro", "value": "debian"},
        {"op": "add", "path": "/custom", "value": "1"},
        {"op": "replace", "path": "/kernel_note", "value": "k2"},
        {"op": "replace", "path": "/min_disk", "value": 3},
        {"op": "replace", "path": "/tags", "value": ["x", "y"]},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/disk_format", "value": "qcow2"},
    ]
    resp = patch(admin, image["id"], ops)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "renamed" and body["os_distro"] == "debian" and body["custom"] == "1"
    assert body["kernel_note"] == "k2" and body["min_disk"] == 3 and body["tags"] == ["x", "y"]
    assert body["protected"] is True and body["disk_format"] == "qcow2"
    resp = patch(admin, image["id"], [{"op": "remove", "path": "/custom"},
                                      {"op": "add", "path": "/custom", "value": "2"},
                                      {"op": "remove", "path": "/kernel_note"}])
    assert resp.json()["custom"] == "2" and "kernel_note" not in resp.json()
    assert admin.get(f"{V2}/images/{image['id']}").json()["custom"] == "2"


@pytest.mark.parametrize("ops,status", [
    ([{"op": "replace", "path": "/status", "value": "active"}], 403),
    ([{"op": "replace", "path": "/id", "value": "x"}], 403),
    ([{"op": "add", "path": "/checksum", "value": "x"}], 403),
    ([{"op": "add", "path": "/os_glance_x", "value": "x"}], 403),
    ([{"op": "add", "path": "/deleted", "value": "x"}], 403),
    ([{"op": "remove", "path": "/name"}], 403),
    ([{"op": "remove", "path": "/nonexistent"}], 409),
    ([{"op": "replace", "path": "/nonexistent", "value": "x"}], 409),
    ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400),
    ([{"op": "replace", "path": "/visibility", "value": "everyone"}], 400),
    ([{"op": "replace", "path": "/min_ram", "value": -5}], 400),
    ([{"op": "add", "path": "/custom", "value": 5}], 400),
    ([{"op": "move", "path": "/name", "value": "x"}], 400),
    ([{"op": "replace", "path": "name", "value": "x"}], 400),
    ([{"op": "replace", "path": "/a/b", "value": "x"}], 400),
    ([{"op": "replace", "path": "/name"}], 400),
    ({"op": "replace"}, 400),
    (["replace"], 400),
])
def test_update_image_bad_patch_rejected_and_unchanged(admin, images, ops, status):
    image = images.create(name="orig")
    resp = patch(admin, image["id"], ops)
    assert resp.status_code == status, resp.text
    after = admin.get(f"{V2}/images/{image['id']}").json()
    assert after["name"] == "orig" and after["updated_at"] == image["updated_at"]


def test_update_image_partial_failure_changes_nothing(admin, images):
    image = images.create(name="orig")
    resp = patch(admin, image["id"], [{"op": "replace", "path": "/name", "value": "new"},
                                      {"op": "remove", "path": "/missing"}])
    assert resp.status_code == 409
    assert admin.get(f"{V2}/images/{image['id']}").json()["name"] == "orig"


def test_update_image_wrong_media_type_unsupported(admin, images):
    image = images.create()
    resp = admin.patch(f"{V2}/images/{image['id']}", json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert resp.status_code == 415
    assert "openstack-images-v2.1-json-patch" in resp.headers["Accept-Patch"]


def test_update_image_draft4_media_type(admin, images):
    image = images.create()
    headers = {"Content-Type": "application/openstack-images-v2.0-json-patch"}
    resp = admin.request("PATCH", f"{V2}/images/{image['id']}",
                         content=json.dumps([{"replace": "/name", "value": "d4"}]), headers=headers)
    assert resp.status_code == 200 and resp.json()["name"] == "d4"
    resp = admin.request("PATCH", f"{V2}/images/{image['id']}", content=json.dumps([{"add": "/name", "value": "x"}]),
                         headers=headers)
    assert resp.status_code == 409


def test_update_image_formats_of_active_image_forbidden(admin, images):
    image = images.active()
    resp = patch(admin, image["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}])
    assert resp.status_code == 403


def test_update_image_publicize_requires_admin(demo, admin, images):
    image = images.create(demo)
    assert patch(demo, image["id"], [{"op": "replace", "path": "/visibility", "value": "public"}]).status_code == 403
    assert patch(demo, image["id"], [{"op": "replace", "path": "/visibility", "value": "community"}]).status_code == 200
    assert patch(admin, image["id"], [{"op": "replace", "path": "/visibility", "value": "public"}]).status_code == 200
    resp = patch(demo, image["id"], [{"op": "replace", "path": "/owner", "value": admin.project_id}])
    assert resp.status_code == 403


def test_update_image_too_many_properties_over_limit(admin, images, cloud):
    image = images.create()
    quota = cloud.clients["image"].settings.image_property_quota
    ops = [{"op": "add", "path": f"/p{i}", "value": "v"} for i in range(quota + 1)]
    resp = patch(admin, image["id"], ops)
    assert resp.status_code == 413


# -- delete, protected, deactivate ----------------------------------------------------------------


def test_delete_image_then_gone(admin, images):
    image = images.create()
    assert admin.delete(f"{V2}/images/{image['id']}").status_code == 204
    assert admin.get(f"{V2}/images/{image['id']}").status_code == 404
    assert admin.delete(f"{V2}/images/{image['id']}").status_code == 404


def test_delete_image_protected_forbidden(admin, images):
    image = images.create(protected=True)
    resp = admin.delete(f"{V2}/images/{image['id']}")
    assert resp.status_code == 403 and "protected" in resp.json()["message"]
    assert admin.get(f"{V2}/images/{image['id']}").status_code == 200


def test_delete_images_collection_method_not_allowed(admin):
    assert admin.delete(f"{V2}/images").status_code == 405


def test_deactivate_reactivate_image(admin, demo, images):
    image = images.active(visibility="public")
    assert admin.post(f"{V2}/images/{image['id']}/actions/deactivate").status_code == 204
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "deactivated"
    resp = demo.get(f"{V2}/images/{image['id']}/file")
    assert resp.status_code == 403 and "deactivated" in resp.json()["message"]
    assert admin.get(f"{V2}/images/{image['id']}/file").status_code == 200
    assert demo.post(f"{V2}/images/{image['id']}/actions/reactivate").status_code == 403
    assert admin.post(f"{V2}/images/{image['id']}/actions/reactivate").status_code == 204
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "active"
    assert demo.get(f"{V2}/images/{image['id']}/file").status_code == 200


def test_deactivate_queued_image_forbidden(admin, images):
    image = images.create()
    assert admin.post(f"{V2}/images/{image['id']}/actions/deactivate").status_code == 403
    assert admin.post(f"{V2}/images/{image['id']}/actions/reactivate").status_code == 403


# -- tags -----------------------------------------------------------------------------------------


def test_add_delete_tags(admin, images):
    image = images.create()
    assert admin.put(f"{V2}/images/{image['id']}/tags/one").status_code == 204
    assert admin.put(f"{V2}/images/{image['id']}/tags/one").status_code == 204
    assert admin.put(f"{V2}/images/{image['id']}/tags/two words").status_code == 204
    assert admin.get(f"{V2}/images/{image['id']}").json()["tags"] == ["one", "two words"]
    assert admin.delete(f"{V2}/images/{image['id']}/tags/one").status_code == 204
    assert admin.delete(f"{V2}/images/{image['id']}/tags/one").status_code == 404
    assert admin.get(f"{V2}/images/{image['id']}").json()["tags"] == ["two words"]


def test_add_tag_non_existing_image_not_found(admin):
    assert admin.put(f"{V2}/images/{uuid.uuid4()}/tags/x").status_code == 404


def test_add_tag_too_long_bad_request(admin, images):
    image = images.create()
    assert admin.put(f"{V2}/images/{image['id']}/tags/{'t' * 256}").status_code == 400


def test_patch_headers_constant():
    assert PATCH["Content-Type"].endswith("v2.1-json-patch")
