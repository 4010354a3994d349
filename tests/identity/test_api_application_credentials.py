"""Application credentials: create, show, list, delete and authenticating with them."""

import datetime as dt

from onestack.identity.model import ApplicationCredential

from .conftest import V3, uid

TOKENS = f"{V3}/auth/tokens"


def _path(user_id: str, cred_id: str = "") -> str:
    return f"{V3}/users/{user_id}/application_credentials" + (f"/{cred_id}" if cred_id else "")


def _create(session, **fields) -> dict:
    resp = session.post(_path(session.user_id), json={"application_credential": {"name": uid("ac"), **fields}})
    assert resp.status_code == 201, resp.text
    return resp.json()["application_credential"]


def _auth(http, ref: dict):
    return http.post(TOKENS, json={"auth": {"identity": {"methods": ["application_credential"],
                                                         "application_credential": ref}}})


def test_create_application_credential_returns_secret_once(make):
    project, _user, session = make.member()
    cred = _create(session, description="ci")
    assert cred["secret"] and cred["project_id"] == project["id"]
    assert cred["unrestricted"] is False and cred["expires_at"] is None
    assert {r["name"] for r in cred["roles"]} == {"member", "reader"}
    shown = session.get(_path(session.user_id, cred["id"]))
    assert shown.status_code == 200 and "secret" not in shown.json()["application_credential"]
    assert cred["secret"] not in shown.text
    listed = session.get(_path(session.user_id)).json()["application_credentials"]
    assert [c["id"] for c in listed] == [cred["id"]] and "secret" not in listed[0]
    by_name = session.get(_path(session.user_id), params={"name": cred["name"]}).json()
    assert [c["id"] for c in by_name["application_credentials"]] == [cred["id"]]


def test_create_application_credential_with_own_secret(make, http):
    _project, _user, session = make.member()
    cred = _create(session, secret="my-own-secret")
    assert cred["secret"] == "my-own-secret"
    assert _auth(http, {"id": cred["id"], "secret": "my-own-secret"}).status_code == 201


def test_create_application_credential_duplicate_name_is_409(make):
    _project, _user, session = make.member()
    cred = _create(session)
    resp = session.post(_path(session.user_id), json={"application_credential": {"name": cred["name"]}})
    assert resp.status_code == 409


def test_create_application_credential_without_name_is_400_naming_field(make):
    _project, _user, session = make.member()
    resp = session.post(_path(session.user_id), json={"application_credential": {"description": "x"}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_create_application_credential_role_not_held_is_404(make):
    _project, _user, session = make.member()
    resp = session.post(_path(session.user_id), json={"application_credential": {
        "name": uid("ac"), "roles": [{"name": "admin"}]}})
    assert resp.status_code == 404


def test_create_application_credential_expiry_in_past_is_400(make):
    _project, _user, session = make.member()
    resp = session.post(_path(session.user_id), json={"application_credential": {
        "name": uid("ac"), "expires_at": "2000-01-01T00:00:00Z"}})
    assert resp.status_code == 400
    assert "expires_at" in resp.json()["error"]["message"]


def test_create_application_credential_bad_expiry_is_400(make):
    _project, _user, session = make.member()
    resp = session.post(_path(session.user_id), json={"application_credential": {
        "name": uid("ac"), "expires_at": "tomorrow"}})
    assert resp.status_code == 400


def test_create_application_credential_for_other_user_is_403(make, admin):
    _project, _user, session = make.member()
    resp = session.post(_path(admin.user_id), json={"application_credential": {"name": uid("ac")}})
    assert resp.status_code == 403


def test_create_application_credential_with_unscoped_token_is_refused(make):
    user = make.user()
    session = make.login(user)
    resp = session.post(_path(session.user_id), json={"application_credential": {"name": uid("ac")}})
    assert resp.status_code in (400, 403)


def test_auth_application_credential_by_id_has_only_its_roles(make, http):
    project, _user, session = make.member()
    cred = _create(session, roles=[{"name": "reader"}])
    assert [r["name"] for r in cred["roles"]] == ["reader"]
    resp = _auth(http, {"id": cred["id"], "secret": cred["secret"]})
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert token["methods"] == ["application_credential"]
    assert token["project"]["id"] == project["id"]
    assert {r["name"] for r in token["roles"]} == {"reader"}
    assert token["application_credential"] == {"id": cred["id"], "name": cred["name"], "restricted": True}
    assert token["catalog"]


def test_auth_application_credential_by_name_and_user(make, http):
    _project, user, session = make.member()
    cred = _create(session)
    ref = {"name": cred["name"], "user": {"name": user["name"], "domain": {"id": "default"}},
           "secret": cred["secret"]}
    assert _auth(http, ref).status_code == 201
    ref = {"name": cred["name"], "user": {"id": user["id"]}, "secret": cred["secret"]}
    assert _auth(http, ref).status_code == 201


def test_auth_application_credential_wrong_secret_is_401(make, http):
    _project, _user, session = make.member()
    cred = _create(session)
    resp = _auth(http, {"id": cred["id"], "secret": "wrong"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"]
    assert _auth(http, {"id": uid(), "secret": "wrong"}).status_code == 401


def test_auth_application_credential_with_scope_is_401(make, http):
    project, _user, session = make.member()
    cred = _create(session)
    resp = http.post(TOKENS, json={"auth": {"identity": {"methods": ["application_credential"],
                                                         "application_credential": {"id": cred["id"],
                                                                                    "secret": cred["secret"]}},
                                            "scope": {"project": {"id": project["id"]}}}})
    assert resp.status_code == 401


def test_auth_application_credential_token_expires_with_credential(make, http):
    _project, _user, session = make.member()
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cred = _create(session, expires_at=expires)
    assert cred["expires_at"].startswith(expires[:19])
    token = _auth(http, {"id": cred["id"], "secret": cred["secret"]}).json()["token"]
    assert token["expires_at"][:19] <= expires[:19]


def test_auth_application_credential_expired_is_401(make, http, cloud):
    _project, _user, session = make.member()
    cred = _create(session)
    with cloud.uow(write=True) as uow:
        uow.session.get(ApplicationCredential, cred["id"]).expires_at = dt.datetime(2001, 1, 1)
    assert _auth(http, {"id": cred["id"], "secret": cred["secret"]}).status_code == 401


def test_restricted_application_credential_token_cannot_create_another(make, http):
    _project, user, session = make.member()
    cred = _create(session)
    token = _auth(http, {"id": cred["id"], "secret": cred["secret"]}).headers["X-Subject-Token"]
    resp = http.post(_path(user["id"]), headers={"X-Auth-Token": token},
                     json={"application_credential": {"name": uid("ac")}})
    assert resp.status_code == 403


def test_unrestricted_application_credential_token_can_create_another(make, http):
    _project, user, session = make.member()
    cred = _create(session, unrestricted=True)
    token = _auth(http, {"id": cred["id"], "secret": cred["secret"]}).headers["X-Subject-Token"]
    resp = http.post(_path(user["id"]), headers={"X-Auth-Token": token},
                     json={"application_credential": {"name": uid("ac")}})
    assert resp.status_code == 201


def test_application_credential_token_cannot_be_rescoped(make, http):
    _project, _user, session = make.member()
    cred = _create(session)
    token = _auth(http, {"id": cred["id"], "secret": cred["secret"]}).headers["X-Subject-Token"]
    resp = http.post(TOKENS, json={"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}})
    assert resp.status_code == 401


def test_delete_application_credential_revokes_its_tokens(make, admin, http):
    _project, _user, session = make.member()
    cred = _create(session)
    token = _auth(http, {"id": cred["id"], "secret": cred["secret"]}).headers["X-Subject-Token"]
    assert admin.get(TOKENS, headers={"X-Subject-Token": token}).status_code == 200
    assert session.delete(_path(session.user_id, cred["id"])).status_code == 204
    assert admin.get(TOKENS, headers={"X-Subject-Token": token}).status_code == 404
    assert http.get(f"{V3}/auth/projects", headers={"X-Auth-Token": token}).status_code == 401
    assert _auth(http, {"id": cred["id"], "secret": cred["secret"]}).status_code == 401
    assert session.get(_path(session.user_id, cred["id"])).status_code == 404
    # The user's own password token is not affected.
    assert admin.get(TOKENS, headers={"X-Subject-Token": session.token}).status_code == 200


def test_application_credential_token_loses_role_removed_from_user(make, admin, http):
    project, user, session = make.member()
    cred = _create(session)
    token = _auth(http, {"id": cred["id"], "secret": cred["secret"]}).headers["X-Subject-Token"]
    member = admin.get(f"{V3}/roles", params={"name": "member"}).json()["roles"][0]["id"]
    admin.delete(f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{member}")
    assert admin.get(TOKENS, headers={"X-Subject-Token": token}).status_code == 404
    assert _auth(http, {"id": cred["id"], "secret": cred["secret"]}).status_code == 401


def test_application_credentials_of_other_user_are_403(make, admin):
    _project, _user, session = make.member()
    mine = _create(session)
    _p2, _u2, other = make.member()
    assert other.get(_path(session.user_id)).status_code == 403
    assert other.get(_path(session.user_id, mine["id"])).status_code == 403
    assert other.delete(_path(session.user_id, mine["id"])).status_code == 403
    assert other.get(_path(other.user_id, mine["id"])).status_code == 404
    assert admin.get(_path(session.user_id, mine["id"])).status_code == 200
