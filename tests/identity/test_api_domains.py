"""/v3/domains."""

from .conftest import V3, uid


def test_create_domain_returns_201_with_upstream_keys(make):
    domain = make.domain(description="d")
    assert set(domain) >= {"id", "name", "description", "enabled", "links", "tags", "options"}
    assert domain["enabled"] is True and domain["description"] == "d"
    assert domain["links"]["self"].endswith(f"/v3/domains/{domain['id']}")


def test_create_domain_duplicate_name_is_409(make, admin):
    domain = make.domain()
    resp = admin.post(f"{V3}/domains", json={"domain": {"name": domain["name"]}})
    assert resp.status_code == 409
    assert resp.json()["error"]["title"] == "Conflict"


def test_create_domain_without_name_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/domains", json={"domain": {"description": "x"}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_create_domain_with_wrong_type_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/domains", json={"domain": {"name": uid(), "enabled": "yes"}})
    assert resp.status_code == 400
    assert "enabled" in resp.json()["error"]["message"]


def test_create_domain_explicit_id(make, admin):
    wanted = uid("explicit").replace("-", "")
    domain = make.domain(explicit_domain_id=wanted)
    assert domain["id"] == wanted
    assert admin.get(f"{V3}/domains/{wanted}").status_code == 200


def test_create_domain_tags_are_kept(make, admin):
    domain = make.domain(tags=["alpha", "beta"])
    assert sorted(domain["tags"]) == ["alpha", "beta"]
    assert sorted(admin.get(f"{V3}/domains/{domain['id']}").json()["domain"]["tags"]) == ["alpha", "beta"]


def test_show_domain(make, admin):
    domain = make.domain()
    resp = admin.get(f"{V3}/domains/{domain['id']}")
    assert resp.status_code == 200
    assert resp.json()["domain"]["name"] == domain["name"]


def test_show_domain_missing_is_404(admin):
    resp = admin.get(f"{V3}/domains/{uid()}")
    assert resp.status_code == 404
    assert resp.json()["error"] == {"code": 404, "title": "Not Found", "message": resp.json()["error"]["message"]}


def test_list_domains_filters_by_name_and_enabled(make, admin):
    enabled = make.domain()
    disabled = make.domain(enabled=False)
    names = [d["name"] for d in admin.get(f"{V3}/domains", params={"name": enabled["name"]}).json()["domains"]]
    assert names == [enabled["name"]]
    off = {d["id"] for d in admin.get(f"{V3}/domains", params={"enabled": "false"}).json()["domains"]}
    assert disabled["id"] in off and enabled["id"] not in off
    on = {d["id"] for d in admin.get(f"{V3}/domains", params={"enabled": "true"}).json()["domains"]}
    assert enabled["id"] in on and disabled["id"] not in on
    body = admin.get(f"{V3}/domains").json()
    assert body["links"]["self"].endswith("/v3/domains")


def test_update_domain(make, admin):
    domain = make.domain()
    new_name = uid("renamed")
    resp = admin.patch(f"{V3}/domains/{domain['id']}", json={"domain": {"name": new_name, "description": "new"}})
    assert resp.status_code == 200
    assert resp.json()["domain"]["name"] == new_name
    assert admin.get(f"{V3}/domains/{domain['id']}").json()["domain"]["description"] == "new"


def test_update_domain_to_duplicate_name_is_409(make, admin):
    first, second = make.domain(), make.domain()
    resp = admin.patch(f"{V3}/domains/{second['id']}", json={"domain": {"name": first["name"]}})
    assert resp.status_code == 409


def test_delete_domain_enabled_is_403(make, admin):
    domain = make.domain()
    resp = admin.delete(f"{V3}/domains/{domain['id']}")
    assert resp.status_code == 403
    assert admin.get(f"{V3}/domains/{domain['id']}").status_code == 200


def test_delete_domain_disabled_removes_its_projects_users_and_groups(make, admin):
    domain = make.domain()
    project = make.project(domain_id=domain["id"])
    child = make.project(parent_id=project["id"])
    user = make.user(domain_id=domain["id"])
    group = make.group(domain_id=domain["id"])
    role = make.role(domain_id=domain["id"])
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    make.grant("member", user=user["id"], project=child["id"])
    assert admin.patch(f"{V3}/domains/{domain['id']}", json={"domain": {"enabled": False}}).status_code == 200
    assert admin.delete(f"{V3}/domains/{domain['id']}").status_code == 204
    assert admin.get(f"{V3}/domains/{domain['id']}").status_code == 404
    for path in (f"projects/{project['id']}", f"projects/{child['id']}", f"users/{user['id']}",
                 f"groups/{group['id']}", f"roles/{role['id']}"):
        assert admin.get(f"{V3}/{path}").status_code == 404, path
    assignments = admin.get(f"{V3}/role_assignments", params={"user.id": user["id"]}).json()
    assert assignments["role_assignments"] == []


def test_delete_domain_default_is_refused(admin):
    assert admin.delete(f"{V3}/domains/default").status_code == 403
    assert admin.get(f"{V3}/domains/default").status_code == 200


def test_list_domains_as_member_is_403(demo):
    resp = demo.get(f"{V3}/domains")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == 403


def test_show_domain_own_domain_as_member(demo):
    assert demo.get(f"{V3}/domains/default").status_code == 200


def test_show_domain_other_domain_as_member_is_403(make, demo):
    domain = make.domain()
    assert demo.get(f"{V3}/domains/{domain['id']}").status_code == 403


def test_create_domain_as_member_is_403(demo):
    assert demo.post(f"{V3}/domains", json={"domain": {"name": uid()}}).status_code == 403
