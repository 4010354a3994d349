"""The real ``openstack`` CLI against the real server: everything issue 2's "Done means" lists."""

from __future__ import annotations

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e


def _validate(server, admin_token: str, subject: str) -> httpx.Response:
    return httpx.get(server.base_url + "/identity/v3/auth/tokens",
                     headers={"X-Auth-Token": admin_token, "X-Subject-Token": subject})


def test_token_issue_and_revoke(cli, server):
    admin = cli("token", "issue")
    assert admin["id"] and admin["project_id"] and admin["user_id"] and admin["expires"]
    victim = cli("token", "issue")
    assert victim["id"] != admin["id"]
    assert _validate(server, admin["id"], victim["id"]).status_code == 200
    cli.ok("token", "revoke", victim["id"])
    assert _validate(server, admin["id"], victim["id"]).status_code == 404
    assert httpx.get(server.base_url + "/identity/v3/auth/projects",
                     headers={"X-Auth-Token": victim["id"]}).status_code == 401
    assert _validate(server, admin["id"], admin["id"]).status_code == 200  # only that one token is gone


def test_token_issue_scopes(cli, demo_cli, system_cli):
    demo = demo_cli("token", "issue")
    admin = cli("token", "issue")
    assert demo["user_id"] != admin["user_id"] and demo["project_id"] != admin["project_id"]
    system = system_cli("token", "issue")
    assert system["user_id"] == admin["user_id"] and not system.get("project_id")


def test_domain_create_list_show_set_delete(cli, name):
    created = cli("domain", "create", name, "--description", "first")
    assert created["name"] == name and created["enabled"] is True and created["description"] == "first"
    assert name in {d["Name"] for d in cli("domain", "list")}
    cli.ok("domain", "set", name, "--description", "second", "--disable")
    shown = cli("domain", "show", name)
    assert shown["id"] == created["id"] and shown["description"] == "second" and shown["enabled"] is False
    cli.ok("domain", "delete", name)
    assert name not in {d["Name"] for d in cli("domain", "list")}
    assert "No Domain found" in cli.fails("domain", "show", name)


def test_project_create_list_show_set_delete(cli, name):
    created = cli("project", "create", name, "--description", "d1", "--tag", "alpha")
    assert created["name"] == name and created["domain_id"] == "default" and created["tags"] == ["alpha"]
    child = cli("project", "create", name + "-child", "--parent", name)
    assert child["parent_id"] == created["id"]
    assert {name, name + "-child"} <= {p["Name"] for p in cli("project", "list")}
    assert [p["Name"] for p in cli("project", "list", "--tags", "alpha")] == [name]
    # as keystone: a project whose subtree holds enabled projects cannot be disabled
    assert "403" in cli.fails("project", "set", name, "--disable")
    cli.ok("project", "set", child["id"], "--disable")
    cli.ok("project", "set", name, "--description", "d2", "--tag", "beta", "--disable")
    shown = cli("project", "show", name)
    assert shown["description"] == "d2" and shown["enabled"] is False and set(shown["tags"]) == {"alpha", "beta"}
    cli.ok("project", "set", name, "--name", name + "-renamed")
    assert cli("project", "show", created["id"])["name"] == name + "-renamed"
    cli.ok("project", "delete", child["id"])
    cli.ok("project", "delete", created["id"])
    names = {p["Name"] for p in cli("project", "list")}
    assert not names & {name, name + "-child", name + "-renamed"}


def test_project_in_another_domain_and_duplicate_name(cli, name):
    domain = cli("domain", "create", name)
    project = cli("project", "create", name, "--domain", name)
    assert project["domain_id"] == domain["id"]
    dup = cli.run("project", "create", name, "--domain", name, check=False)
    assert dup.returncode != 0 and ("Conflict" in dup.stderr or "409" in dup.stderr)
    assert cli("project", "show", name, "--domain", name)["id"] == project["id"]
    cli.ok("project", "delete", project["id"])
    cli.ok("domain", "set", name, "--disable")
    cli.ok("domain", "delete", name)


def test_user_create_list_show_set_delete_and_login(cli, name, clouds_yaml, tmp_path, server):
    project = cli("project", "create", name)
    user = cli("user", "create", name, "--password", "s3cret-1", "--project", name, "--email", "u@example.org",
               "--description", "first")
    assert user["name"] == name and user["default_project_id"] == project["id"] and user["email"] == "u@example.org"
    assert "password" not in user
    assert name in {u["Name"] for u in cli("user", "list")}
    cli.ok("user", "set", name, "--description", "second", "--email", "v@example.org")
    shown = cli("user", "show", name)
    assert shown["description"] == "second" and shown["email"] == "v@example.org" and shown["enabled"] is True
    cli.ok("role", "add", "--project", name, "--user", name, "member")

    own = _own_cloud(tmp_path, server, {"username": name, "password": "s3cret-1", "project_name": name,
                                        "user_domain_name": "Default", "project_domain_name": "Default"}, cli)
    token = own("token", "issue")
    assert token["user_id"] == user["id"] and token["project_id"] == project["id"]
    # The user changes their own password; the old one stops working.
    own.ok("user", "password", "set", "--original-password", "s3cret-1", "--password", "s3cret-2")
    assert own.fails("token", "issue")
    own2 = _own_cloud(tmp_path, server, {"username": name, "password": "s3cret-2", "project_name": name,
                                         "user_domain_name": "Default", "project_domain_name": "Default"}, cli)
    assert own2("token", "issue")["user_id"] == user["id"]
    # Disabling the user makes their tokens worthless immediately.
    cli.ok("user", "set", name, "--disable")
    assert _validate(server, cli("token", "issue")["id"], token["id"]).status_code == 404
    cli.ok("user", "delete", name)
    assert name not in {u["Name"] for u in cli("user", "list")}
    cli.ok("project", "delete", name)


def _own_cloud(tmp_path, server, auth: dict, cli, auth_type: str | None = None):
    """A clouds.yaml with one cloud ``own`` for the given credentials; returns a Cli for it."""
    import uuid

    cloud = {"auth": {"auth_url": server.base_url + "/identity", **auth}, "region_name": "RegionOne",
             "identity_api_version": 3, "interface": "public"}
    if auth_type:
        cloud["auth_type"] = auth_type
    path = tmp_path / f"clouds-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"own": cloud}}))
    return type(cli)(path, "own")


def test_group_create_list_show_set_delete_and_membership(cli, name):
    user = cli("user", "create", name, "--password", "pw")
    group = cli("group", "create", name, "--description", "g1")
    assert group["name"] == name and group["description"] == "g1"
    assert name in {g["Name"] for g in cli("group", "list")}
    cli.ok("group", "add", "user", name, name)
    out = cli.run("group", "contains", "user", name, name).stdout
    assert f"{name} in group {name}" in out
    assert [u["Name"] for u in cli("user", "list", "--group", name)] == [name]
    assert [g["Name"] for g in cli("group", "list", "--user", name)] == [name]
    cli.ok("group", "set", name, "--description", "g2", "--name", name + "-x")
    shown = cli("group", "show", group["id"])
    assert shown["description"] == "g2" and shown["name"] == name + "-x"
    cli.ok("group", "remove", "user", group["id"], user["id"])
    assert cli("user", "list", "--group", group["id"]) == []
    cli.ok("group", "delete", group["id"])
    assert group["id"] not in {g["ID"] for g in cli("group", "list")}
    cli.ok("user", "delete", user["id"])


def test_role_create_list_show_set_delete(cli, name):
    role = cli("role", "create", name, "--description", "r1")
    assert role["name"] == name
    assert {"admin", "member", "reader", name} <= {r["Name"] for r in cli("role", "list")}
    cli.ok("role", "set", name, "--description", "r2")
    assert cli("role", "show", name)["description"] == "r2"
    cli.ok("role", "set", name, "--name", name + "-x")
    assert cli("role", "show", role["id"])["name"] == name + "-x"
    cli.ok("role", "delete", role["id"])
    assert role["id"] not in {r["ID"] for r in cli("role", "list")}


def test_role_add_remove_and_effective_assignments_with_names(cli, name):
    project = cli("project", "create", name)
    user = cli("user", "create", name, "--password", "pw")
    group = cli("group", "create", name)
    role = cli("role", "create", name)
    cli.ok("group", "add", "user", name, name)
    cli.ok("role", "add", "--project", name, "--user", name, name)
    cli.ok("role", "add", "--project", name, "--group", name, "member")

    direct = cli("role", "assignment", "list", "--project", name, "--names")
    assert {(a["Role"], a["User"], a["Group"]) for a in direct} == {
        (name, f"{name}@Default", ""), ("member", "", f"{name}@Default")}

    effective = cli("role", "assignment", "list", "--project", name, "--names", "--effective")
    rows = {(a["Role"], a["User"], a["Project"]) for a in effective}
    # Group membership resolved to the user, and member implies reader.
    assert rows == {(name, f"{name}@Default", f"{name}@Default"), ("member", f"{name}@Default", f"{name}@Default"),
                    ("reader", f"{name}@Default", f"{name}@Default")}
    assert all(a["Group"] == "" for a in effective)

    by_user = cli("role", "assignment", "list", "--user", name, "--effective")
    assert {a["Role"] for a in by_user} == {role["id"], _role_id(cli, "member"), _role_id(cli, "reader")}
    assert {a["Project"] for a in by_user} == {project["id"]}

    cli.ok("role", "remove", "--project", name, "--user", name, name)
    cli.ok("role", "remove", "--project", name, "--group", name, "member")
    assert cli("role", "assignment", "list", "--project", name, "--effective") == []

    # domain and system assignments
    cli.ok("role", "add", "--domain", "default", "--user", name, "reader")
    cli.ok("role", "add", "--system", "all", "--user", name, "reader")
    assigned = cli("role", "assignment", "list", "--user", name, "--names")
    assert {(a["Domain"], a["System"]) for a in assigned} == {("Default", ""), ("", "all")}
    cli.ok("role", "remove", "--domain", "default", "--user", name, "reader")
    cli.ok("role", "remove", "--system", "all", "--user", name, "reader")
    for kind, ident in (("role", role["id"]), ("group", group["id"]), ("user", user["id"]),
                        ("project", project["id"])):
        cli.ok(kind, "delete", ident)


def _role_id(cli, role_name: str) -> str:
    return cli("role", "show", role_name)["id"]


def test_application_credential_create_and_authenticate(cli, name, tmp_path, server):
    restricted = cli("application", "credential", "create", name, "--role", "member", "--description", "ci",
                     "--expiration", "2099-01-01T00:00:00")
    assert restricted["Secret"] and [r["name"] for r in restricted["Roles"]] == ["member"]
    assert restricted["Unrestricted"] is False and restricted["Expires At"].startswith("2099-01-01T00:00:00")
    listed = cli("application", "credential", "list")
    assert name in {c["Name"] for c in listed} and all("Secret" not in c for c in listed)
    assert cli("application", "credential", "show", name)["ID"] == restricted["ID"]

    by_id = _own_cloud(tmp_path, server, {"application_credential_id": restricted["ID"],
                                          "application_credential_secret": restricted["Secret"]},
                       cli, auth_type="v3applicationcredential")
    token = by_id("token", "issue")
    admin_token = cli("token", "issue")
    assert token["project_id"] == admin_token["project_id"] and token["user_id"] == admin_token["user_id"]
    body = _validate(server, admin_token["id"], token["id"]).json()["token"]
    assert body["application_credential"]["id"] == restricted["ID"]
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}  # only what the credential allows
    assert by_id("catalog", "list")

    by_name = _own_cloud(tmp_path, server, {"application_credential_name": name,
                                            "application_credential_secret": restricted["Secret"],
                                            "username": "admin", "user_domain_name": "Default"},
                         cli, auth_type="v3applicationcredential")
    assert by_name("token", "issue")["user_id"] == admin_token["user_id"]

    wrong = _own_cloud(tmp_path, server, {"application_credential_id": restricted["ID"],
                                          "application_credential_secret": "not-the-secret"},
                       cli, auth_type="v3applicationcredential")
    assert wrong.fails("token", "issue")

    cli.ok("application", "credential", "delete", name)
    assert by_id.fails("token", "issue")
    assert _validate(server, admin_token["id"], token["id"]).status_code == 404


def test_catalog_endpoint_service_region_lists(cli):
    catalog = cli("catalog", "list")
    identity = [s for s in catalog if s["Type"] == "identity"]
    assert identity and identity[0]["Name"] == "keystone"
    assert {e["interface"] for e in identity[0]["Endpoints"]} == {"public", "internal", "admin"}
    assert {s["Type"] for s in cli("service", "list")} >= {"identity"}
    endpoints = cli("endpoint", "list")
    assert {e["Interface"] for e in endpoints if e["Service Type"] == "identity"} == {"public", "internal", "admin"}
    assert [e for e in endpoints if e["Service Type"] == "identity" and e["Region"] == "RegionOne"]
    assert "RegionOne" in {r["Region"] for r in cli("region", "list")}
    assert cli("endpoint", "list", "--service", "identity", "--interface", "public")[0]["Interface"] == "public"


def test_service_endpoint_region_create_set_delete(cli, name):
    region = cli("region", "create", name, "--description", "r")
    assert region["region"] == name
    service = cli("service", "create", "--name", name, "--description", "svc", "e2e-" + name)
    assert service["type"] == "e2e-" + name and service["name"] == name
    endpoint = cli("endpoint", "create", "--region", name, service["id"], "public", "http://127.0.0.1:9/x")
    assert endpoint["url"] == "http://127.0.0.1:9/x" and endpoint["region"] == name
    cli.ok("endpoint", "set", "--url", "http://127.0.0.1:9/y", endpoint["id"])
    assert cli("endpoint", "show", endpoint["id"])["url"] == "http://127.0.0.1:9/y"
    cli.ok("service", "set", "--description", "svc2", service["id"])
    assert cli("service", "show", service["id"])["description"] == "svc2"
    cli.ok("region", "set", "--description", "r2", name)
    assert cli("region", "show", name)["description"] == "r2"
    cli.ok("endpoint", "delete", endpoint["id"])
    cli.ok("service", "delete", service["id"])
    cli.ok("region", "delete", name)
    assert name not in {r["Region"] for r in cli("region", "list")}


def test_registered_limit_and_limit_commands(cli, demo_cli, name):
    resource = name.replace("-", "_")
    registered = cli("registered", "limit", "create", "--service", "keystone", "--default-limit", "10",
                     "--region", "RegionOne", "--description", "rl", resource)
    assert registered["default_limit"] == 10 and registered["resource_name"] == resource
    assert registered["id"] in {r["ID"] for r in cli("registered", "limit", "list")}
    assert [r["ID"] for r in cli("registered", "limit", "list", "--resource-name", resource)] == [registered["id"]]
    cli.ok("registered", "limit", "set", "--default-limit", "12", registered["id"])
    assert cli("registered", "limit", "show", registered["id"])["default_limit"] == 12

    limit = cli("limit", "create", "--project", "demo", "--service", "keystone", "--resource-limit", "5",
                "--region", "RegionOne", resource)
    assert limit["resource_limit"] == 5 and limit["project_id"] == cli("project", "show", "demo")["id"]
    assert limit["id"] in {r["ID"] for r in cli("limit", "list")}
    cli.ok("limit", "set", "--resource-limit", "7", "--description", "more", limit["id"])
    shown = cli("limit", "show", limit["id"])
    assert shown["resource_limit"] == 7 and shown["description"] == "more"
    # a project member sees its own project's limits
    assert limit["id"] in {r["ID"] for r in demo_cli("limit", "list")}
    cli.ok("limit", "delete", limit["id"])
    assert limit["id"] not in {r["ID"] for r in cli("limit", "list")}
    cli.ok("registered", "limit", "delete", registered["id"])
    assert registered["id"] not in {r["ID"] for r in cli("registered", "limit", "list")}


def test_member_cannot_administer(demo_cli, name):
    for args in (("user", "create", name, "--password", "x"), ("domain", "create", name)):
        proc = demo_cli.run(*args, check=False)
        assert proc.returncode != 0 and "403" in proc.stderr, proc.stderr
    token = demo_cli("token", "issue")
    assert token["project_id"]


def test_system_scope_lists_users(system_cli):
    assert {"admin", "demo"} <= {u["Name"] for u in system_cli("user", "list")}


def test_member_validating_its_own_revoked_token_gets_404(demo_cli, server):
    """Regression (Tempest TokensV3Test): the subject token is resolved before the policy check."""
    token = demo_cli("token", "issue")["id"]
    other = demo_cli("token", "issue")["id"]
    demo_cli.ok("token", "revoke", other)
    for method in ("GET", "HEAD"):
        resp = httpx.request(method, server.base_url + "/identity/v3/auth/tokens",
                             headers={"X-Auth-Token": token, "X-Subject-Token": other})
        assert resp.status_code == 404
