"""/v3/roles, implied roles and /v3/role_inferences."""

from .conftest import V3, role_id, uid


def test_list_roles_has_defaults(admin):
    names = {r["name"] for r in admin.get(f"{V3}/roles").json()["roles"]}
    assert {"admin", "member", "reader"} <= names


def test_create_role(make, admin):
    role = make.role(description="r")
    assert set(role) >= {"id", "name", "domain_id", "description", "links", "options"}
    assert role["domain_id"] is None
    assert admin.get(f"{V3}/roles/{role['id']}").json()["role"]["name"] == role["name"]


def test_create_role_duplicate_name_is_409(make, admin):
    role = make.role()
    assert admin.post(f"{V3}/roles", json={"role": {"name": role["name"]}}).status_code == 409


def test_create_role_without_name_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/roles", json={"role": {"description": "x"}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_create_domain_role_same_name_as_global_role(make, admin):
    domain = make.domain()
    global_role = make.role()
    domain_role = make.role(name=global_role["name"], domain_id=domain["id"])
    assert domain_role["domain_id"] == domain["id"]
    listed = admin.get(f"{V3}/roles", params={"domain_id": domain["id"]}).json()["roles"]
    assert [r["id"] for r in listed] == [domain_role["id"]]
    globals_ = {r["id"] for r in admin.get(f"{V3}/roles").json()["roles"]}
    assert global_role["id"] in globals_ and domain_role["id"] not in globals_


def test_list_roles_filter_by_name(make, admin):
    role = make.role()
    assert [r["id"] for r in admin.get(f"{V3}/roles", params={"name": role["name"]}).json()["roles"]] == [role["id"]]


def test_update_role(make, admin):
    role = make.role()
    name = uid("renamed")
    resp = admin.patch(f"{V3}/roles/{role['id']}", json={"role": {"name": name, "description": "x"}})
    assert resp.status_code == 200
    assert resp.json()["role"]["name"] == name


def test_delete_role_removes_assignments(make, admin):
    role = make.role()
    project, user = make.project(), make.user()
    make.grant(role["id"], user=user["id"], project=project["id"])
    assert admin.delete(f"{V3}/roles/{role['id']}").status_code == 204
    assert admin.get(f"{V3}/roles/{role['id']}").status_code == 404
    assert admin.get(f"{V3}/role_assignments", params={"user.id": user["id"]}).json()["role_assignments"] == []


def test_show_role_missing_is_404(admin):
    assert admin.get(f"{V3}/roles/{uid()}").status_code == 404


def test_roles_as_member_are_403(make, demo):
    role = make.role()
    assert demo.get(f"{V3}/roles").status_code == 403
    assert demo.get(f"{V3}/roles/{role['id']}").status_code == 403
    assert demo.post(f"{V3}/roles", json={"role": {"name": uid()}}).status_code == 403
    assert demo.delete(f"{V3}/roles/{role['id']}").status_code == 403
    assert demo.get(f"{V3}/role_inferences").status_code == 403


# -- implied roles --------------------------------------------------------------------------------


def test_default_roles_imply_each_other(admin):
    admin_id, member_id, reader_id = (role_id(admin, n) for n in ("admin", "member", "reader"))
    assert admin.head(f"{V3}/roles/{admin_id}/implies/{member_id}").status_code == 204
    assert admin.head(f"{V3}/roles/{member_id}/implies/{reader_id}").status_code == 204
    resp = admin.get(f"{V3}/roles/{admin_id}/implies")
    assert resp.status_code == 200
    inference = resp.json()["role_inference"]
    assert inference["prior_role"]["id"] == admin_id
    assert [r["id"] for r in inference["implies"]] == [member_id]


def test_create_show_delete_implied_role(make, admin):
    prior, implied = make.role(), make.role()
    path = f"{V3}/roles/{prior['id']}/implies/{implied['id']}"
    assert admin.get(path).status_code == 404
    resp = admin.put(path)
    assert resp.status_code == 201
    body = resp.json()["role_inference"]
    assert body["prior_role"]["id"] == prior["id"] and body["implies"]["id"] == implied["id"]
    assert body["prior_role"]["links"]["self"].endswith(f"/v3/roles/{prior['id']}")
    assert admin.get(path).json()["role_inference"]["implies"]["name"] == implied["name"]
    assert admin.head(path).status_code == 204
    inferences = admin.get(f"{V3}/role_inferences").json()["role_inferences"]
    mine = [i for i in inferences if i["prior_role"]["id"] == prior["id"]]
    assert [[r["id"] for r in i["implies"]] for i in mine] == [[implied["id"]]]
    assert admin.delete(path).status_code == 204
    assert admin.head(path).status_code == 404
    assert admin.delete(path).status_code == 404


def test_create_implied_role_loop_is_403(make, admin):
    a, b, c = make.role(), make.role(), make.role()
    assert admin.put(f"{V3}/roles/{a['id']}/implies/{b['id']}").status_code == 201
    assert admin.put(f"{V3}/roles/{b['id']}/implies/{c['id']}").status_code == 201
    assert admin.put(f"{V3}/roles/{c['id']}/implies/{a['id']}").status_code == 403
    assert admin.put(f"{V3}/roles/{a['id']}/implies/{a['id']}").status_code == 403


def test_create_implied_role_missing_role_is_404(make, admin):
    role = make.role()
    assert admin.put(f"{V3}/roles/{role['id']}/implies/{uid()}").status_code == 404


def test_token_includes_transitively_implied_roles(make, admin):
    a, b, c = make.role(), make.role(), make.role()
    admin.put(f"{V3}/roles/{a['id']}/implies/{b['id']}")
    admin.put(f"{V3}/roles/{b['id']}/implies/{c['id']}")
    project, user = make.project(), make.user()
    make.grant(a["id"], user=user["id"], project=project["id"])
    names = {r["name"] for r in make.login(user, project).body["token"]["roles"]}
    assert names == {a["name"], b["name"], c["name"]}
