import uuid

from .conftest import V2, patch


def test_add_member_then_accept_lists_image_for_member(admin, projects, images):
    other = projects.member_session()
    image = images.active(admin, visibility="shared")
    resp = admin.post(f"{V2}/images/{image['id']}/members", json={"member": other.project_id})
    assert resp.status_code == 200, resp.text
    member = resp.json()
    assert member["status"] == "pending" and member["member_id"] == other.project_id
    assert member["image_id"] == image["id"] and member["schema"] == "/v2/schemas/member"
    # pending: visible by id, not in the default list
    assert other.get(f"{V2}/images/{image['id']}").status_code == 200
    ids = [i["id"] for i in other.get(f"{V2}/images").json()["images"]]
    assert image["id"] not in ids
    pending = [i["id"] for i in other.get(f"{V2}/images", params={"member_status": "pending"}).json()["images"]]
    assert image["id"] in pending
    resp = other.put(f"{V2}/images/{image['id']}/members/{other.project_id}", json={"status": "accepted"})
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    ids = [i["id"] for i in other.get(f"{V2}/images").json()["images"]]
    assert image["id"] in ids
    shared = [i["id"] for i in other.get(f"{V2}/images", params={"visibility": "shared"}).json()["images"]]
    assert image["id"] in shared
    assert other.get(f"{V2}/images/{image['id']}/file").content == b"x" * 1000
    # the member sees only itself; the owner sees everyone
    assert [m["member_id"] for m in other.get(f"{V2}/images/{image['id']}/members").json()["members"]] == \
        [other.project_id]
    body = admin.get(f"{V2}/images/{image['id']}/members").json()
    assert body["schema"] == "/v2/schemas/members" and len(body["members"]) == 1
    assert admin.get(f"{V2}/images/{image['id']}/members/{other.project_id}").json()["status"] == "accepted"
    # a member cannot modify the image or share it further
    assert patch(other, image["id"], [{"op": "replace", "path": "/name", "value": "x"}]).status_code == 403
    assert other.post(f"{V2}/images/{image['id']}/members", json={"member": str(uuid.uuid4())}).status_code == 403
    # reject hides it again; removing the member makes the image disappear for it
    other.put(f"{V2}/images/{image['id']}/members/{other.project_id}", json={"status": "rejected"})
    assert image["id"] not in [i["id"] for i in other.get(f"{V2}/images").json()["images"]]
    assert admin.delete(f"{V2}/images/{image['id']}/members/{other.project_id}").status_code == 204
    assert other.get(f"{V2}/images/{image['id']}").status_code == 404


def test_update_member_status_by_owner_forbidden(admin, projects, images):
    other = projects.member_session()
    image = images.create(other)
    admin_project = admin.project_id
    assert other.post(f"{V2}/images/{image['id']}/members", json={"member": admin_project}).status_code == 200
    resp = other.put(f"{V2}/images/{image['id']}/members/{admin_project}", json={"status": "accepted"})
    assert resp.status_code == 403


def test_add_member_private_image_forbidden(admin, images):
    image = images.create(visibility="private")
    resp = admin.post(f"{V2}/images/{image['id']}/members", json={"member": str(uuid.uuid4())})
    assert resp.status_code == 403 and "Only shared images have members." in resp.json()["message"]
    assert admin.get(f"{V2}/images/{image['id']}/members").status_code == 403


def test_add_member_duplicate_conflict(admin, images):
    image = images.create()
    project = uuid.uuid4().hex
    assert admin.post(f"{V2}/images/{image['id']}/members", json={"member": project}).status_code == 200
    assert admin.post(f"{V2}/images/{image['id']}/members", json={"member": project}).status_code == 409


def test_add_member_bad_body_bad_request(admin, images):
    image = images.create()
    assert admin.post(f"{V2}/images/{image['id']}/members", json={}).status_code == 400
    assert admin.post(f"{V2}/images/{image['id']}/members", json={"member": ""}).status_code == 400
    project = uuid.uuid4().hex
    admin.post(f"{V2}/images/{image['id']}/members", json={"member": project})
    resp = admin.put(f"{V2}/images/{image['id']}/members/{project}", json={"status": "maybe"})
    assert resp.status_code == 400
    assert admin.put(f"{V2}/images/{image['id']}/members/{project}", json={}).status_code == 400


def test_show_member_unknown_not_found(admin, images):
    image = images.create()
    assert admin.get(f"{V2}/images/{image['id']}/members/{uuid.uuid4().hex}").status_code == 404
    assert admin.delete(f"{V2}/images/{image['id']}/members/{uuid.uuid4().hex}").status_code == 404


def test_list_members_of_invisible_image_not_found(demo, images):
    image = images.create()
    assert demo.get(f"{V2}/images/{image['id']}/members").status_code == 404
