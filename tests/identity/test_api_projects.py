"""/v3/projects: CRUD, hierarchy, tags and filters."""

from .conftest import V3, uid


def _ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {p["id"] for p in resp.json()["projects"]}


def test_create_project_returns_201_with_upstream_keys(make):
    project = make.project(description="p")
    assert set(project) >= {"id", "name", "domain_id", "description", "enabled", "parent_id", "is_domain",
                            "tags", "options", "links"}
    assert project["domain_id"] == "default" and project["parent_id"] == "default"
    assert project["is_domain"] is False and project["enabled"] is True
    assert project["links"]["self"].endswith(f"/v3/projects/{project['id']}")


def test_create_project_keeps_extra_attributes(make, admin):
    project = make.project(color="blue")
    assert project["color"] == "blue"
    assert admin.get(f"{V3}/projects/{project['id']}").json()["project"]["color"] == "blue"


def test_create_project_with_parent_inherits_domain(make):
    domain = make.domain()
    parent = make.project(domain_id=domain["id"])
    child = make.project(parent_id=parent["id"])
    assert child["parent_id"] == parent["id"]
    assert child["domain_id"] == domain["id"]


def test_create_project_parent_in_other_domain_is_400(make, admin):
    domain = make.domain()
    parent = make.project()
    resp = admin.post(f"{V3}/projects", json={"project": {"name": uid(), "domain_id": domain["id"],
                                                          "parent_id": parent["id"]}})
    assert resp.status_code == 400


def test_create_project_missing_parent_is_404(admin):
    resp = admin.post(f"{V3}/projects", json={"project": {"name": uid(), "parent_id": uid("nope")}})
    assert resp.status_code == 404


def test_create_project_missing_domain_is_4xx(admin):
    resp = admin.post(f"{V3}/projects", json={"project": {"name": uid(), "domain_id": uid("nope")}})
    assert resp.status_code in (400, 404)


def test_create_project_duplicate_name_in_domain_is_409(make, admin):
    project = make.project()
    resp = admin.post(f"{V3}/projects", json={"project": {"name": project["name"]}})
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == 409


def test_create_project_same_name_in_other_domain(make):
    domain = make.domain()
    first = make.project()
    second = make.project(name=first["name"], domain_id=domain["id"])
    assert second["id"] != first["id"]


def test_create_project_without_name_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/projects", json={"project": {"description": "x"}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_create_project_name_too_long_is_400(admin):
    resp = admin.post(f"{V3}/projects", json={"project": {"name": "x" * 65}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_create_project_is_domain_creates_a_domain(make, admin):
    name = uid("isdom")
    resp = admin.post(f"{V3}/projects", json={"project": {"name": name, "is_domain": True}})
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert project["is_domain"] is True
    make._cleanup.append(("DELETE", f"domains/{project['id']}", None))
    make._cleanup.append(("PATCH", f"domains/{project['id']}", {"domain": {"enabled": False}}))
    assert admin.get(f"{V3}/domains/{project['id']}").json()["domain"]["name"] == name


def test_show_project_missing_is_404(admin):
    assert admin.get(f"{V3}/projects/{uid()}").status_code == 404


def test_show_project_parents_and_subtree(make, admin):
    root = make.project()
    mid = make.project(parent_id=root["id"])
    leaf = make.project(parent_id=mid["id"])
    body = admin.get(f"{V3}/projects/{mid['id']}", params={"parents_as_list": "", "subtree_as_list": ""}).json()
    assert [p["project"]["id"] for p in body["project"]["parents"]] == [root["id"]]
    assert [p["project"]["id"] for p in body["project"]["subtree"]] == [leaf["id"]]
    body = admin.get(f"{V3}/projects/{root['id']}", params={"subtree_as_list": ""}).json()
    assert [p["project"]["id"] for p in body["project"]["subtree"]] == [mid["id"], leaf["id"]]
    body = admin.get(f"{V3}/projects/{leaf['id']}", params={"parents_as_list": ""}).json()
    assert [p["project"]["id"] for p in body["project"]["parents"]] == [mid["id"], root["id"]]


def test_list_projects_filters(make, admin):
    domain = make.domain()
    parent = make.project(domain_id=domain["id"])
    child = make.project(parent_id=parent["id"])
    disabled = make.project(domain_id=domain["id"], enabled=False)
    assert _ids(admin.get(f"{V3}/projects", params={"domain_id": domain["id"]})) == {
        parent["id"], child["id"], disabled["id"]}
    assert _ids(admin.get(f"{V3}/projects", params={"parent_id": parent["id"]})) == {child["id"]}
    assert _ids(admin.get(f"{V3}/projects", params={"name": child["name"]})) == {child["id"]}
    assert _ids(admin.get(f"{V3}/projects", params={"domain_id": domain["id"], "enabled": "false"})) == {
        disabled["id"]}
    assert _ids(admin.get(f"{V3}/projects", params={"domain_id": domain["id"], "enabled": "true"})) == {
        parent["id"], child["id"]}


def test_list_projects_invalid_boolean_filter_is_400(admin):
    resp = admin.get(f"{V3}/projects", params={"enabled": "maybe"})
    assert resp.status_code == 400
    assert "enabled" in resp.json()["error"]["message"]


def test_update_project(make, admin):
    project = make.project()
    new_name = uid("renamed")
    resp = admin.patch(f"{V3}/projects/{project['id']}",
                       json={"project": {"name": new_name, "description": "d", "enabled": False}})
    assert resp.status_code == 200
    body = resp.json()["project"]
    assert (body["name"], body["description"], body["enabled"]) == (new_name, "d", False)
    assert admin.get(f"{V3}/projects/{project['id']}").json()["project"]["name"] == new_name


def test_update_project_duplicate_name_is_409(make, admin):
    first, second = make.project(), make.project()
    resp = admin.patch(f"{V3}/projects/{second['id']}", json={"project": {"name": first["name"]}})
    assert resp.status_code == 409


def test_update_project_domain_is_400(make, admin):
    domain = make.domain()
    project = make.project()
    resp = admin.patch(f"{V3}/projects/{project['id']}", json={"project": {"domain_id": domain["id"]}})
    assert resp.status_code == 400


def test_update_project_empty_body_is_400(make, admin):
    project = make.project()
    assert admin.patch(f"{V3}/projects/{project['id']}", json={"project": {}}).status_code == 400


def test_delete_project(make, admin):
    project = make.project()
    assert admin.delete(f"{V3}/projects/{project['id']}").status_code == 204
    assert admin.get(f"{V3}/projects/{project['id']}").status_code == 404
    assert admin.delete(f"{V3}/projects/{project['id']}").status_code == 404


def test_delete_project_with_children_is_403(make, admin):
    parent = make.project()
    child = make.project(parent_id=parent["id"])
    resp = admin.delete(f"{V3}/projects/{parent['id']}")
    assert resp.status_code == 403
    assert admin.get(f"{V3}/projects/{parent['id']}").status_code == 200
    assert admin.delete(f"{V3}/projects/{child['id']}").status_code == 204
    assert admin.delete(f"{V3}/projects/{parent['id']}").status_code == 204


def test_delete_project_removes_its_role_assignments(make, admin):
    project, user, _session = make.member()
    admin.delete(f"{V3}/projects/{project['id']}")
    resp = admin.get(f"{V3}/role_assignments", params={"user.id": user["id"]})
    assert resp.json()["role_assignments"] == []


# -- tags -----------------------------------------------------------------------------------------


def test_create_project_with_tags(make, admin):
    project = make.project(tags=["a", "b"])
    assert sorted(project["tags"]) == ["a", "b"]
    resp = admin.get(f"{V3}/projects/{project['id']}/tags")
    assert resp.status_code == 200 and sorted(resp.json()["tags"]) == ["a", "b"]


def test_add_and_check_and_remove_project_tag(make, admin):
    project = make.project()
    path = f"{V3}/projects/{project['id']}/tags"
    assert admin.put(f"{path}/blue").status_code == 201
    assert admin.get(f"{path}/blue").status_code == 204
    assert admin.get(f"{path}/red").status_code == 404
    assert admin.get(path).json()["tags"] == ["blue"]
    assert admin.put(f"{path}/blue").status_code == 201  # idempotent
    assert admin.get(path).json()["tags"] == ["blue"]
    assert admin.delete(f"{path}/blue").status_code == 204
    assert admin.delete(f"{path}/blue").status_code == 404
    assert admin.get(path).json()["tags"] == []


def test_replace_and_clear_project_tags(make, admin):
    project = make.project(tags=["old"])
    path = f"{V3}/projects/{project['id']}/tags"
    resp = admin.put(path, json={"tags": ["x", "y"]})
    assert resp.status_code == 200 and sorted(resp.json()["tags"]) == ["x", "y"]
    assert sorted(admin.get(f"{V3}/projects/{project['id']}").json()["project"]["tags"]) == ["x", "y"]
    assert admin.delete(path).status_code == 204
    assert admin.get(path).json()["tags"] == []


def test_update_project_tags_by_patch(make, admin):
    project = make.project(tags=["one"])
    resp = admin.patch(f"{V3}/projects/{project['id']}", json={"project": {"tags": ["two", "three"]}})
    assert sorted(resp.json()["project"]["tags"]) == ["three", "two"]


def test_create_project_tag_with_comma_is_400(make, admin):
    project = make.project()
    resp = admin.put(f"{V3}/projects/{project['id']}/tags", json={"tags": ["a,b"]})
    assert resp.status_code == 400
    assert "tags" in resp.json()["error"]["message"]


def test_create_project_too_many_tags_is_400(make, admin):
    project = make.project()
    resp = admin.put(f"{V3}/projects/{project['id']}/tags", json={"tags": [f"t{i}" for i in range(81)]})
    assert resp.status_code == 400


def test_list_projects_tag_filters(make, admin):
    marker = uid("tag")
    both = make.project(tags=[marker, "x"])
    only_marker = make.project(tags=[marker])
    only_x = make.project(tags=["x", uid("tag")])

    def ids(**params):
        return _ids(admin.get(f"{V3}/projects", params=params)) & {both["id"], only_marker["id"], only_x["id"]}

    assert ids(tags=f"{marker},x") == {both["id"]}
    assert ids(**{"tags-any": f"{marker},x"}) == {both["id"], only_marker["id"], only_x["id"]}
    assert ids(tags=marker) == {both["id"], only_marker["id"]}
    assert ids(**{"not-tags": f"{marker},x"}) == {only_marker["id"], only_x["id"]}
    assert ids(**{"not-tags-any": marker}) == {only_x["id"]}


# -- /v3/users/{id}/projects -----------------------------------------------------------------------


def test_list_user_projects(make, admin):
    project, user, session = make.member()
    assert _ids(admin.get(f"{V3}/users/{user['id']}/projects")) == {project["id"]}
    assert _ids(session.get(f"{V3}/users/{user['id']}/projects")) == {project["id"]}


def test_list_user_projects_of_other_user_as_member_is_403(make, demo, admin):
    assert demo.get(f"{V3}/users/{admin.user_id}/projects").status_code == 403


def test_update_project_disable_with_enabled_subtree_is_403(make, admin):
    parent = make.project()
    child = make.project(parent_id=parent["id"])
    grandchild = make.project(parent_id=child["id"])
    resp = admin.patch(f"{V3}/projects/{parent['id']}", json={"project": {"enabled": False}})
    assert resp.status_code == 403
    assert admin.get(f"{V3}/projects/{parent['id']}").json()["project"]["enabled"] is True
    for project in (grandchild, child, parent):  # bottom up works
        resp = admin.patch(f"{V3}/projects/{project['id']}", json={"project": {"enabled": False}})
        assert resp.status_code == 200, resp.text


def test_update_project_enable_under_disabled_parent_is_403(make, admin):
    parent = make.project()
    child = make.project(parent_id=parent["id"])
    admin.patch(f"{V3}/projects/{child['id']}", json={"project": {"enabled": False}})
    admin.patch(f"{V3}/projects/{parent['id']}", json={"project": {"enabled": False}})
    assert admin.patch(f"{V3}/projects/{child['id']}", json={"project": {"enabled": True}}).status_code == 403
    assert admin.patch(f"{V3}/projects/{parent['id']}", json={"project": {"enabled": True}}).status_code == 200
    assert admin.patch(f"{V3}/projects/{child['id']}", json={"project": {"enabled": True}}).status_code == 200


def test_create_project_with_nul_character_is_400(admin):
    # PostgreSQL refuses NUL in text: this must be the client's 400, never a 500.
    assert admin.post(f"{V3}/projects", json={"project": {"name": "a\u0000b"}}).status_code == 400
    assert admin.get(f"{V3}/projects", params={"name": "a\u0000b"}).status_code == 400
    assert admin.get(f"{V3}/projects/a%00b").status_code == 400
