"""Identity's in-memory caches (validated tokens, rendered lists) never outlive a change.

In one process every identity write drops them before it answers; API processes sharing a database
compare its change counter on each request, so a change committed by one process is seen by the
next request to another one -- without waiting for a bus message.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from onestack.app import build
from onestack.core.bus import InProcessBus
from onestack.core.testing.client import Session, make_settings, password_auth

from .conftest import V3, role_id, uid

TOKENS = f"{V3}/auth/tokens"


def _names(session: Session, **params) -> set[str]:
    resp = session.get(f"{V3}/projects", params=params)
    assert resp.status_code == 200, resp.text
    return {p["name"] for p in resp.json()["projects"]}


def test_list_projects_cached_sees_create_rename_tag_and_delete(make, admin):
    before = _names(admin)
    assert _names(admin) == before  # served from the cache now
    project = make.project()
    assert project["name"] in _names(admin)
    new_name = uid("renamed")
    assert admin.patch(f"{V3}/projects/{project['id']}", json={"project": {"name": new_name}}).status_code == 200
    names = _names(admin)
    assert new_name in names and project["name"] not in names
    tag = uid("tag")
    assert new_name not in _names(admin, tags=tag)
    assert admin.put(f"{V3}/projects/{project['id']}/tags/{tag}").status_code == 201
    assert _names(admin, tags=tag) == {new_name}
    assert admin.delete(f"{V3}/projects/{project['id']}").status_code == 204
    assert new_name not in _names(admin)


def test_list_projects_cached_is_still_authorized_per_caller(make, admin):
    _names(admin)  # cached
    _project, _user, member = make.member()
    assert member.get(f"{V3}/projects").status_code == 403


# -- two API processes on one database ------------------------------------------------------------


@pytest.fixture
def other_process(cloud):
    """A second API process on the same database and key repository, scaled-out style (it checks the
    database's change counter), with a bus of its own that never hears the first process's notices."""
    settings = make_settings(str(cloud.settings.data_path), cloud.settings.database_url,
                             bus={"url": "amqp://not-used.invalid/"})
    second = build(settings, bus=InProcessBus())
    assert second.identity.generation.shared
    try:
        with TestClient(second.asgi, base_url="http://127.0.0.1:8080") as http:
            yield http
    finally:
        second.close()


def _validate(http, caller: str, subject: str) -> int:
    return http.get(TOKENS, headers={"X-Auth-Token": caller, "X-Subject-Token": subject}).status_code


def _authenticates(http, token: str) -> bool:
    status = http.get(f"{V3}/auth/projects", headers={"X-Auth-Token": token}).status_code
    assert status in (200, 401)
    return status == 200


def test_revoke_token_in_one_process_is_effective_in_the_other_at_once(admin, http, other_process, passwords):
    victim = http.post(TOKENS, json=password_auth("admin", passwords["admin"], "admin")).headers["X-Subject-Token"]
    assert _validate(other_process, admin.token, victim) == 200  # validated (cached) over there
    assert _validate(other_process, admin.token, victim) == 200
    assert admin.delete(TOKENS, headers={"X-Subject-Token": victim}).status_code == 204
    assert _validate(other_process, admin.token, victim) == 404
    assert not _authenticates(other_process, victim)


def test_disable_user_project_role_and_password_in_one_process_rejects_tokens_in_the_other(make, admin,
                                                                                         other_process):
    cases = []
    for change in ("user", "project", "role", "password"):
        project, user, session = make.member()
        assert _authenticates(other_process, session.token)  # cached over there
        cases.append((change, project, user, session.token))
    for change, project, user, _token in cases:
        if change == "user":
            resp = admin.patch(f"{V3}/users/{user['id']}", json={"user": {"enabled": False}})
        elif change == "project":
            resp = admin.patch(f"{V3}/projects/{project['id']}", json={"project": {"enabled": False}})
        elif change == "role":
            resp = admin.delete(f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{role_id(admin, 'member')}")
        else:
            resp = admin.patch(f"{V3}/users/{user['id']}", json={"user": {"password": uid("pw")}})
        assert resp.status_code in (200, 204), resp.text
    for change, _project, _user, token in cases:
        assert not _authenticates(other_process, token), change


def test_project_created_in_one_process_is_listed_by_the_other_at_once(make, admin, other_process):
    def names() -> set[str]:
        resp = other_process.get(f"{V3}/projects", headers={"X-Auth-Token": admin.token})
        assert resp.status_code == 200, resp.text
        return {p["name"] for p in resp.json()["projects"]}

    names()  # cached over there
    project = make.project()
    assert project["name"] in names()
