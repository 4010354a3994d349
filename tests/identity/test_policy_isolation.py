"""Policy isolation: a member of project A never sees or touches project B or other users; members get
403 on admin APIs; no route answers 500 to anyone."""

import re
import uuid

import pytest

from onestack.identity.routes import ROUTES

from .conftest import V3, role_id, uid

TOKENS = f"{V3}/auth/tokens"

# (method, path, body) every ordinary member must be refused (403), whatever ids they name.
ADMIN_ONLY = [
    ("GET", "/v3/domains", None),
    ("POST", "/v3/domains", {"domain": {"name": "x"}}),
    ("GET", "/v3/projects", None),
    ("POST", "/v3/projects", {"project": {"name": "x"}}),
    ("GET", "/v3/users", None),
    ("POST", "/v3/users", {"user": {"name": "x"}}),
    ("GET", "/v3/groups", None),
    ("POST", "/v3/groups", {"group": {"name": "x"}}),
    ("GET", "/v3/roles", None),
    ("POST", "/v3/roles", {"role": {"name": "x"}}),
    ("GET", "/v3/role_inferences", None),
    ("GET", "/v3/role_assignments", None),
    ("GET", "/v3/services", None),
    ("POST", "/v3/services", {"service": {"type": "x"}}),
    ("GET", "/v3/endpoints", None),
    ("POST", "/v3/regions", {"region": {}}),
    ("POST", "/v3/registered_limits", {"registered_limits": [{"service_id": "x", "resource_name": "x",
                                                              "default_limit": 1}]}),
    ("POST", "/v3/limits", {"limits": [{"service_id": "x", "resource_name": "x", "resource_limit": 1}]}),
]


@pytest.mark.parametrize("method,path,body", ADMIN_ONLY, ids=[f"{m} {p}" for m, p, _ in ADMIN_ONLY])
def test_admin_api_as_member_is_403(demo, method, path, body):
    resp = demo.request(method, f"/identity{path}", json=body)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == 403


@pytest.fixture
def two_tenants(make):
    """Projects A and B, each with its own member logged in."""
    project_a, user_a, session_a = make.member()
    project_b, user_b, session_b = make.member()
    return project_a, user_a, session_a, project_b, user_b, session_b


def test_member_of_a_cannot_read_project_b(two_tenants):
    project_a, _ua, a, project_b, _ub, _b = two_tenants
    assert a.get(f"{V3}/projects/{project_a['id']}").status_code == 200
    assert a.get(f"{V3}/projects/{project_b['id']}").status_code == 403
    assert a.get(f"{V3}/projects/{project_b['id']}/tags").status_code == 403
    assert a.get(f"{V3}/projects", params={"domain_id": "default"}).status_code == 403
    assert a.get(f"{V3}/role_assignments", params={"scope.project.id": project_b["id"]}).status_code == 403
    assert a.get(f"{V3}/role_assignments", params={"scope.project.id": project_a["id"]}).status_code == 403


def test_member_of_a_cannot_change_project_b(two_tenants, admin):
    _pa, user_a, a, project_b, _ub, _b = two_tenants
    pid = project_b["id"]
    assert a.patch(f"{V3}/projects/{pid}", json={"project": {"name": "owned"}}).status_code == 403
    assert a.delete(f"{V3}/projects/{pid}").status_code == 403
    assert a.put(f"{V3}/projects/{pid}/tags/owned").status_code == 403
    assert a.put(f"{V3}/projects/{pid}/tags", json={"tags": []}).status_code == 403
    member = role_id(admin, "member")
    assert a.put(f"{V3}/projects/{pid}/users/{user_a['id']}/roles/{member}").status_code == 403
    assert a.put(f"{V3}/OS-INHERIT/domains/default/users/{user_a['id']}/roles/{member}/inherited_to_projects"
                 ).status_code == 403
    body = admin.get(f"{V3}/projects/{pid}").json()["project"]
    assert body["name"] == project_b["name"] and body["tags"] == []


def test_member_of_a_cannot_read_or_touch_user_b(two_tenants, admin):
    _pa, _ua, a, _pb, user_b, b = two_tenants
    uid_b = user_b["id"]
    assert a.get(f"{V3}/users/{uid_b}").status_code == 403
    assert a.patch(f"{V3}/users/{uid_b}", json={"user": {"enabled": False}}).status_code == 403
    assert a.delete(f"{V3}/users/{uid_b}").status_code == 403
    assert a.get(f"{V3}/users/{uid_b}/projects").status_code == 403
    assert a.get(f"{V3}/users/{uid_b}/groups").status_code == 403
    assert a.get(f"{V3}/users/{uid_b}/application_credentials").status_code == 403
    assert a.post(f"{V3}/users/{uid_b}/application_credentials",
                  json={"application_credential": {"name": uid()}}).status_code == 403
    assert a.get(f"{V3}/role_assignments", params={"user.id": uid_b}).status_code == 403
    assert admin.get(f"{V3}/users/{uid_b}").json()["user"]["enabled"] is True


def test_member_of_a_cannot_validate_or_revoke_token_of_b(two_tenants, admin):
    _pa, _ua, a, _pb, _ub, b = two_tenants
    assert a.get(TOKENS, headers={"X-Subject-Token": b.token}).status_code == 403
    assert a.head(TOKENS, headers={"X-Subject-Token": b.token}).status_code == 403
    assert a.delete(TOKENS, headers={"X-Subject-Token": b.token}).status_code == 403
    assert admin.get(TOKENS, headers={"X-Subject-Token": b.token}).status_code == 200


def test_member_of_a_cannot_rescope_to_project_b(two_tenants, http):
    _pa, _ua, a, project_b, _ub, _b = two_tenants
    resp = http.post(TOKENS, json={"auth": {"identity": {"methods": ["token"], "token": {"id": a.token}},
                                            "scope": {"project": {"id": project_b["id"]}}}})
    assert resp.status_code == 401


def test_member_of_a_cannot_use_application_credential_of_b(two_tenants, http):
    _pa, _ua, a, _pb, user_b, b = two_tenants
    cred = b.post(f"{V3}/users/{user_b['id']}/application_credentials",
                  json={"application_credential": {"name": uid("ac")}}).json()["application_credential"]
    assert a.get(f"{V3}/users/{user_b['id']}/application_credentials/{cred['id']}").status_code == 403
    assert a.delete(f"{V3}/users/{user_b['id']}/application_credentials/{cred['id']}").status_code == 403
    assert a.delete(f"{V3}/users/{a.user_id}/application_credentials/{cred['id']}").status_code == 404
    assert b.get(f"{V3}/users/{user_b['id']}/application_credentials/{cred['id']}").status_code == 200


def test_member_token_worthless_for_other_users_auth_projects(two_tenants):
    project_a, _ua, a, project_b, _ub, b = two_tenants
    assert [p["id"] for p in a.get(f"{V3}/auth/projects").json()["projects"]] == [project_a["id"]]
    assert [p["id"] for p in b.get(f"{V3}/auth/projects").json()["projects"]] == [project_b["id"]]


def test_reader_of_a_cannot_write_project_a(make):
    project, _user, session = make.member(role="reader")
    assert session.get(f"{V3}/projects/{project['id']}").status_code == 200
    assert session.patch(f"{V3}/projects/{project['id']}", json={"project": {"name": "x"}}).status_code == 403
    assert session.put(f"{V3}/projects/{project['id']}/tags/x").status_code == 403


def test_domain_reader_sees_own_domain_only(make):
    domain, other = make.domain(), make.domain()
    inside = make.project(domain_id=domain["id"])
    make.project(domain_id=other["id"])
    user = make.user(domain_id=domain["id"])
    make.grant("reader", user=user["id"], domain=domain["id"])
    session = make.login(user, domain=domain["name"], scope={"domain": {"id": domain["id"]}})
    resp = session.get(f"{V3}/projects", params={"domain_id": domain["id"]})
    assert resp.status_code == 200
    assert {p["id"] for p in resp.json()["projects"]} == {inside["id"]}
    # As keystone: a domain-scoped token lists its own domain only, with or without the filter.
    resp = session.get(f"{V3}/projects")
    assert resp.status_code == 200 and {p["id"] for p in resp.json()["projects"]} == {inside["id"]}
    resp = session.get(f"{V3}/projects", params={"domain_id": other["id"]})
    assert resp.status_code == 200 and resp.json()["projects"] == []
    resp = session.get(f"{V3}/users")
    assert resp.status_code == 200 and {u["id"] for u in resp.json()["users"]} == {user["id"]}
    assert session.get(f"{V3}/users", params={"domain_id": domain["id"]}).status_code == 200
    resp = session.get(f"{V3}/users", params={"domain_id": other["id"]})
    assert resp.status_code == 200 and resp.json()["users"] == []
    group = make.group(domain_id=domain["id"])
    make.group(domain_id=other["id"])
    resp = session.get(f"{V3}/groups")
    assert resp.status_code == 200 and {g["id"] for g in resp.json()["groups"]} == {group["id"]}
    assert session.post(f"{V3}/projects", json={"project": {"name": uid(), "domain_id": domain["id"]}}
                        ).status_code == 403


# -- no route answers 500 --------------------------------------------------------------------------


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: uuid.uuid4().hex, path)


ROUTE_CASES = [(r.method, r.path) for r in ROUTES]


@pytest.mark.parametrize("method,path", ROUTE_CASES, ids=[f"{m} {p}" for m, p in ROUTE_CASES])
def test_every_route_answers_admin_and_member_without_500(admin, demo, method, path):
    url = "/identity" + _concrete(path)
    for session in (admin, demo):
        kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        resp = session.request(method, url, **kwargs)
        assert resp.status_code < 500, f"{method} {url}: {resp.status_code} {resp.text}"
        assert resp.headers["X-Openstack-Request-Id"]
        if resp.status_code >= 400 and method != "HEAD":
            error = resp.json()["error"]
            assert error["code"] == resp.status_code and error["title"] and error["message"]


WRITE_CASES = [(r.method, r.path) for r in ROUTES if r.method in ("POST", "PUT", "PATCH")]
ODD_BODIES = [[], "text", 7, None, {"auth": []}, {"auth": {"identity": {"methods": ["password"], "password": []}}},
              {"project": []}, {"user": "x"}, {"limits": [None]}, {"registered_limits": {}}]


@pytest.mark.parametrize("method,path", WRITE_CASES, ids=[f"{m} {p}" for m, p in WRITE_CASES])
def test_every_write_route_rejects_odd_bodies_without_500(admin, method, path):
    url = "/identity" + _concrete(path)
    for body in ODD_BODIES:
        resp = admin.request(method, url, json=body)
        assert resp.status_code < 500, f"{method} {url} {body!r}: {resp.status_code} {resp.text}"

