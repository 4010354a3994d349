"""Role grants on projects, domains and the system (incl. OS-INHERIT) and /v3/role_assignments."""

from .conftest import V3, role_id

RA = f"{V3}/role_assignments"


def _assignments(admin, **params) -> list[dict]:
    resp = admin.get(RA, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["role_assignments"]


def _roles(session) -> set[str]:
    return {r["name"] for r in session.body["token"]["roles"]}


def test_grant_user_project_role_put_check_list_revoke(make, admin):
    project, user, role = make.project(), make.user(), make.role()
    base = f"{V3}/projects/{project['id']}/users/{user['id']}/roles"
    assert admin.head(f"{base}/{role['id']}").status_code == 404
    assert admin.put(f"{base}/{role['id']}").status_code == 204
    assert admin.put(f"{base}/{role['id']}").status_code == 204  # idempotent
    assert admin.head(f"{base}/{role['id']}").status_code == 204
    assert admin.get(f"{base}/{role['id']}").status_code == 204
    roles = admin.get(base).json()["roles"]
    assert [r["id"] for r in roles] == [role["id"]]
    assert admin.delete(f"{base}/{role['id']}").status_code == 204
    assert admin.delete(f"{base}/{role['id']}").status_code == 404
    assert admin.get(base).json()["roles"] == []


def test_grant_missing_role_user_or_project_is_404(make, admin):
    project, user, role = make.project(), make.user(), make.role()
    assert admin.put(f"{V3}/projects/{project['id']}/users/{user['id']}/roles/nope").status_code == 404
    assert admin.put(f"{V3}/projects/{project['id']}/users/nope/roles/{role['id']}").status_code == 404
    assert admin.put(f"{V3}/projects/nope/users/{user['id']}/roles/{role['id']}").status_code == 404
    assert admin.put(f"{V3}/domains/nope/groups/nope/roles/{role['id']}").status_code == 404


def test_grant_domain_role_outside_its_domain_is_403(make, admin):
    domain = make.domain()
    role = make.role(domain_id=domain["id"])
    project, user = make.project(), make.user()
    assert admin.put(f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}").status_code == 403


def test_grant_group_project_role_gives_members_a_token(make, admin):
    project, user, group = make.project(), make.user(), make.group()
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    make.grant("member", group=group["id"], project=project["id"])
    base = f"{V3}/projects/{project['id']}/groups/{group['id']}/roles"
    assert [r["name"] for r in admin.get(base).json()["roles"]] == ["member"]
    assert _roles(make.login(user, project)) == {"member", "reader"}


def test_grant_user_domain_role_gives_domain_token(make, admin):
    domain, user = make.domain(), make.user()
    make.grant("reader", user=user["id"], domain=domain["id"])
    base = f"{V3}/domains/{domain['id']}/users/{user['id']}/roles"
    assert [r["name"] for r in admin.get(base).json()["roles"]] == ["reader"]
    session = make.login(user, scope={"domain": {"id": domain["id"]}})
    assert session.body["token"]["domain"]["id"] == domain["id"]
    assert _roles(session) == {"reader"}


def test_grant_group_domain_role(make, admin):
    domain, user, group = make.domain(), make.user(), make.group()
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    make.grant("member", group=group["id"], domain=domain["id"])
    base = f"{V3}/domains/{domain['id']}/groups/{group['id']}/roles"
    assert admin.head(f"{base}/{role_id(admin, 'member')}").status_code == 204
    assert _roles(make.login(user, scope={"domain": {"id": domain["id"]}})) == {"member", "reader"}


def test_grant_system_role_to_user(make, admin):
    user, role = make.user(), role_id(admin, "reader")
    base = f"{V3}/system/users/{user['id']}/roles"
    assert admin.head(f"{base}/{role}").status_code == 404
    assert admin.put(f"{base}/{role}").status_code == 204
    assert admin.head(f"{base}/{role}").status_code == 204
    assert [r["name"] for r in admin.get(base).json()["roles"]] == ["reader"]
    session = make.login(user, scope={"system": {"all": True}})
    assert session.body["token"]["system"] == {"all": True}
    assert session.get(f"{V3}/auth/system").json()["system"] == [{"all": True}]
    assert admin.delete(f"{base}/{role}").status_code == 204
    assert admin.get(base).json()["roles"] == []


def test_grant_system_role_to_group(make, admin):
    user, group, role = make.user(), make.group(), role_id(admin, "reader")
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    assert admin.put(f"{V3}/system/groups/{group['id']}/roles/{role}").status_code == 204
    assert [r["name"] for r in admin.get(f"{V3}/system/groups/{group['id']}/roles").json()["roles"]] == ["reader"]
    assert _roles(make.login(user, scope={"system": {"all": True}})) == {"reader"}
    assert admin.delete(f"{V3}/system/groups/{group['id']}/roles/{role}").status_code == 204


def test_grant_inherited_domain_role_applies_to_its_projects_not_domain(make, admin, http):
    domain, user = make.domain(), make.user()
    project = make.project(domain_id=domain["id"])
    child = make.project(parent_id=project["id"])
    path = make.grant("member", user=user["id"], domain=domain["id"], inherited=True)
    assert admin.head(f"{V3}/{path}").status_code == 204
    listed = admin.get(f"{V3}/OS-INHERIT/domains/{domain['id']}/users/{user['id']}/roles/inherited_to_projects")
    assert [r["name"] for r in listed.json()["roles"]] == ["member"]
    # Not a direct grant on the domain.
    assert admin.get(f"{V3}/domains/{domain['id']}/users/{user['id']}/roles").json()["roles"] == []
    assert _roles(make.login(user, project)) == {"member", "reader"}
    assert _roles(make.login(user, child)) == {"member", "reader"}
    resp = http.post(f"{V3}/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": user["id"], "password": user["password"]}}}, "scope": {"domain": {"id": domain["id"]}}}})
    assert resp.status_code == 401
    assert admin.delete(f"{V3}/{path}").status_code == 204
    assert admin.head(f"{V3}/{path}").status_code == 404


def test_grant_inherited_project_role_applies_to_subtree_only(make, admin):
    parent, user = make.project(), make.user()
    child = make.project(parent_id=parent["id"])
    make.grant("reader", user=user["id"], project=parent["id"], inherited=True)
    assert _roles(make.login(user, child)) == {"reader"}
    resp = admin.http.post(f"{V3}/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": user["id"], "password": user["password"]}}}, "scope": {"project": {"id": parent["id"]}}}})
    assert resp.status_code == 401


def test_grant_inherited_group_role(make, admin):
    domain, user, group = make.domain(), make.user(), make.group()
    project = make.project(domain_id=domain["id"])
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    make.grant("reader", group=group["id"], domain=domain["id"], inherited=True)
    assert _roles(make.login(user, project)) == {"reader"}


def test_grants_as_member_are_403(make, demo, admin):
    project, user = make.project(), make.user()
    member = role_id(admin, "member")
    assert demo.put(f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{member}").status_code == 403
    assert demo.put(f"{V3}/projects/{demo.project_id}/users/{user['id']}/roles/{member}").status_code == 403
    assert demo.put(f"{V3}/system/users/{demo.user_id}/roles/{member}").status_code == 403
    assert demo.get(f"{V3}/projects/{project['id']}/users/{user['id']}/roles").status_code == 403
    assert demo.get(RA).status_code == 403
    assert admin.get(f"{V3}/projects/{project['id']}/users/{user['id']}/roles").json()["roles"] == []


# -- /v3/role_assignments -------------------------------------------------------------------------


def test_list_role_assignments_by_user(make, admin):
    project, user, _session = make.member()
    entries = _assignments(admin, **{"user.id": user["id"]})
    assert len(entries) == 1
    entry = entries[0]
    assert entry["user"] == {"id": user["id"]}
    assert entry["scope"] == {"project": {"id": project["id"]}}
    assert entry["role"] == {"id": role_id(admin, "member")}
    assert entry["links"]["assignment"].endswith(
        f"/v3/projects/{project['id']}/users/{user['id']}/roles/{entry['role']['id']}")


def test_list_role_assignments_scope_filters(make, admin):
    domain, user = make.domain(), make.user()
    project = make.project(domain_id=domain["id"])
    make.grant("member", user=user["id"], project=project["id"])
    make.grant("reader", user=user["id"], domain=domain["id"])
    make.grant("reader", user=user["id"], system=True)
    make.grant("member", user=user["id"], domain=domain["id"], inherited=True)

    def scopes(**params):
        return sorted(tuple(sorted(e["scope"])) for e in _assignments(admin, **{"user.id": user["id"], **params}))

    assert scopes(**{"scope.project.id": project["id"]}) == [("project",)]
    assert scopes(**{"scope.domain.id": domain["id"]}) == [("OS-INHERIT:inherited_to", "domain"), ("domain",)]
    assert scopes(**{"scope.system": "all"}) == [("system",)]
    inherited = _assignments(admin, **{"user.id": user["id"], "scope.OS-INHERIT:inherited_to": "projects"})
    assert [e["scope"]["OS-INHERIT:inherited_to"] for e in inherited] == ["projects"]
    assert inherited[0]["links"]["assignment"].endswith("/inherited_to_projects") or \
        "/OS-INHERIT/" in inherited[0]["links"]["assignment"]
    system = _assignments(admin, **{"user.id": user["id"], "scope.system": "all"})[0]
    assert system["scope"] == {"system": {"all": True}}
    member = role_id(admin, "member")
    assert {e["role"]["id"] for e in _assignments(admin, **{"user.id": user["id"], "role.id": member})} == {member}


def test_list_role_assignments_by_group(make, admin):
    project, group = make.project(), make.group()
    make.grant("reader", group=group["id"], project=project["id"])
    entries = _assignments(admin, **{"group.id": group["id"]})
    assert [(e["group"]["id"], e["scope"]["project"]["id"]) for e in entries] == [(group["id"], project["id"])]
    assert "user" not in entries[0]


def test_list_role_assignments_effective_expands_groups_inheritance_and_implied_roles(make, admin):
    domain, user, group = make.domain(), make.user(), make.group()
    project = make.project(domain_id=domain["id"])
    via_group = make.project()
    admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}")
    make.grant("member", group=group["id"], project=via_group["id"])
    make.grant("admin", user=user["id"], domain=domain["id"], inherited=True)
    entries = _assignments(admin, **{"user.id": user["id"], "effective": ""})
    got = {(e["role"]["id"], e["scope"].get("project", {}).get("id")) for e in entries}
    ids = {n: role_id(admin, n) for n in ("admin", "member", "reader")}
    assert got == {
        (ids["member"], via_group["id"]), (ids["reader"], via_group["id"]),
        (ids["admin"], project["id"]), (ids["member"], project["id"]), (ids["reader"], project["id"]),
    }
    assert all(e["user"]["id"] == user["id"] and "group" not in e for e in entries)
    assert all("OS-INHERIT:inherited_to" not in e["scope"] for e in entries)
    grouped = [e for e in entries if e["scope"]["project"]["id"] == via_group["id"]]
    assert all(e["links"]["membership"].endswith(f"/v3/groups/{group['id']}/users/{user['id']}") for e in grouped)
    implied = [e for e in entries if e["role"]["id"] == ids["reader"]]
    assert all("prior_role" in e["links"] for e in implied)


def test_list_role_assignments_effective_with_group_filter_is_400(make, admin):
    group = make.group()
    assert admin.get(RA, params={"group.id": group["id"], "effective": ""}).status_code == 400


def test_list_role_assignments_effective_for_project(make, admin):
    project, user, _session = make.member()
    other = make.user()
    make.grant("reader", user=other["id"], project=project["id"])
    entries = _assignments(admin, **{"scope.project.id": project["id"], "effective": "true"})
    got = {(e["user"]["id"], e["role"]["id"]) for e in entries}
    assert got == {(user["id"], role_id(admin, "member")), (user["id"], role_id(admin, "reader")),
                   (other["id"], role_id(admin, "reader"))}


def test_list_role_assignments_include_names(make, admin):
    project, user, _session = make.member()
    entries = _assignments(admin, **{"user.id": user["id"], "include_names": "true"})
    assert len(entries) == 1
    entry = entries[0]
    assert entry["role"]["name"] == "member"
    assert entry["user"]["name"] == user["name"]
    assert entry["user"]["domain"] == {"id": "default", "name": "Default"}
    assert entry["scope"]["project"]["name"] == project["name"]
    assert entry["scope"]["project"]["domain"] == {"id": "default", "name": "Default"}


def test_list_role_assignments_include_subtree(make, admin):
    parent, user = make.project(), make.user()
    child = make.project(parent_id=parent["id"])
    make.grant("reader", user=user["id"], project=child["id"])
    entries = _assignments(admin, **{"scope.project.id": parent["id"], "include_subtree": "true"})
    assert [(e["user"]["id"], e["scope"]["project"]["id"]) for e in entries] == [(user["id"], child["id"])]


def test_list_role_assignments_as_system_reader(make, admin):
    user = make.user()
    make.grant("reader", user=user["id"], system=True)
    session = make.login(user, scope={"system": {"all": True}})
    assert session.get(RA, params={"user.id": user["id"]}).status_code == 200
    assert session.get(f"{V3}/users").status_code == 200
    # Readers read; they do not write.
    assert session.post(f"{V3}/projects", json={"project": {"name": "nope"}}).status_code == 403
