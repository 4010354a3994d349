"""/v3/groups and group membership."""

from .conftest import V3, uid


def test_create_group(make, admin):
    group = make.group(description="g")
    assert set(group) >= {"id", "name", "domain_id", "description", "links"}
    assert group["domain_id"] == "default"
    assert admin.get(f"{V3}/groups/{group['id']}").json()["group"]["name"] == group["name"]


def test_create_group_duplicate_name_is_409(make, admin):
    group = make.group()
    assert admin.post(f"{V3}/groups", json={"group": {"name": group["name"]}}).status_code == 409


def test_create_group_without_name_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/groups", json={"group": {"description": "x"}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_list_groups_filters(make, admin):
    domain = make.domain()
    group = make.group(domain_id=domain["id"])
    other = make.group()
    ids = {g["id"] for g in admin.get(f"{V3}/groups", params={"domain_id": domain["id"]}).json()["groups"]}
    assert ids == {group["id"]}
    ids = {g["id"] for g in admin.get(f"{V3}/groups", params={"name": other["name"]}).json()["groups"]}
    assert ids == {other["id"]}


def test_update_group(make, admin):
    group = make.group()
    name = uid("renamed")
    resp = admin.patch(f"{V3}/groups/{group['id']}", json={"group": {"name": name, "description": "new"}})
    assert resp.status_code == 200
    assert (resp.json()["group"]["name"], resp.json()["group"]["description"]) == (name, "new")


def test_update_group_duplicate_name_is_409(make, admin):
    first, second = make.group(), make.group()
    assert admin.patch(f"{V3}/groups/{second['id']}", json={"group": {"name": first["name"]}}).status_code == 409


def test_delete_group(make, admin):
    group = make.group()
    assert admin.delete(f"{V3}/groups/{group['id']}").status_code == 204
    assert admin.get(f"{V3}/groups/{group['id']}").status_code == 404


def test_show_group_missing_is_404(admin):
    assert admin.get(f"{V3}/groups/{uid()}").status_code == 404


def test_add_check_list_remove_group_member(make, admin):
    group, user = make.group(), make.user()
    member = f"{V3}/groups/{group['id']}/users/{user['id']}"
    assert admin.head(member).status_code == 404
    assert admin.put(member).status_code == 204
    assert admin.put(member).status_code == 204  # idempotent
    assert admin.head(member).status_code == 204
    assert admin.get(member).status_code == 204
    users = admin.get(f"{V3}/groups/{group['id']}/users").json()["users"]
    assert [u["id"] for u in users] == [user["id"]]
    assert all("password" not in u for u in users)
    groups = admin.get(f"{V3}/users/{user['id']}/groups").json()["groups"]
    assert [g["id"] for g in groups] == [group["id"]]
    assert admin.delete(member).status_code == 204
    assert admin.delete(member).status_code == 404
    assert admin.get(f"{V3}/groups/{group['id']}/users").json()["users"] == []


def test_add_group_member_missing_user_is_404(make, admin):
    group = make.group()
    assert admin.put(f"{V3}/groups/{group['id']}/users/{uid()}").status_code == 404


def test_add_group_member_missing_group_is_404(make, admin):
    user = make.user()
    assert admin.put(f"{V3}/groups/{uid()}/users/{user['id']}").status_code == 404


def test_delete_group_removes_memberships(make, admin):
    group, user = make.group(), make.user()
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    admin.delete(f"{V3}/groups/{group['id']}")
    assert admin.get(f"{V3}/users/{user['id']}/groups").json()["groups"] == []


def test_list_user_groups_self_as_member(make):
    group = make.group()
    project, user, session = make.member()
    make.admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    resp = session.get(f"{V3}/users/{user['id']}/groups")
    assert resp.status_code == 200
    assert [g["id"] for g in resp.json()["groups"]] == [group["id"]]


def test_groups_as_member_are_403(make, demo, admin):
    group = make.group()
    assert demo.get(f"{V3}/groups").status_code == 403
    assert demo.get(f"{V3}/groups/{group['id']}").status_code == 403
    assert demo.post(f"{V3}/groups", json={"group": {"name": uid()}}).status_code == 403
    assert demo.put(f"{V3}/groups/{group['id']}/users/{demo.user_id}").status_code == 403
    assert demo.get(f"{V3}/groups/{group['id']}/users").status_code == 403
    assert demo.get(f"{V3}/users/{admin.user_id}/groups").status_code == 403
    assert admin.get(f"{V3}/groups/{group['id']}/users").json()["users"] == []
