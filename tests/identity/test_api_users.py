"""/v3/users."""

from onestack.core.testing.client import password_auth

from .conftest import V3, uid


def test_create_user_never_returns_password(make, admin):
    user = make.user(email="someone@example.org", description="d")
    resp = admin.get(f"{V3}/users/{user['id']}")
    for body in (resp.json()["user"], *admin.get(f"{V3}/users", params={"name": user["name"]}).json()["users"]):
        assert "password" not in body and "password_hash" not in body
        assert body["email"] == "someone@example.org"
        assert body["description"] == "d"
        assert body["domain_id"] == "default" and body["enabled"] is True
        assert body["password_expires_at"] is None
        assert body["links"]["self"].endswith(f"/v3/users/{user['id']}")
    assert user["password"] not in resp.text


def test_create_user_response_has_no_password(admin):
    name = uid("usr")
    resp = admin.post(f"{V3}/users", json={"user": {"name": name, "password": "visible-if-buggy"}})
    assert resp.status_code == 201
    assert "visible-if-buggy" not in resp.text and "password\"" not in resp.text.replace("password_expires_at", "")
    admin.delete(f"{V3}/users/{resp.json()['user']['id']}")


def test_create_user_duplicate_name_in_domain_is_409(make, admin):
    user = make.user()
    resp = admin.post(f"{V3}/users", json={"user": {"name": user["name"]}})
    assert resp.status_code == 409
    assert resp.json()["error"]["title"] == "Conflict"


def test_create_user_same_name_in_other_domain(make):
    domain = make.domain()
    first = make.user()
    second = make.user(name=first["name"], domain_id=domain["id"])
    assert second["domain_id"] == domain["id"]


def test_create_user_missing_domain_is_404(admin):
    resp = admin.post(f"{V3}/users", json={"user": {"name": uid(), "domain_id": uid("nodom")}})
    assert resp.status_code == 404


def test_create_user_without_name_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/users", json={"user": {"password": "x"}})
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]


def test_create_user_with_bad_enabled_is_400_naming_field(admin):
    resp = admin.post(f"{V3}/users", json={"user": {"name": uid(), "enabled": "no"}})
    assert resp.status_code == 400
    assert "enabled" in resp.json()["error"]["message"]


def test_create_user_with_options(make, admin):
    user = make.user(options={"ignore_password_expiry": True, "lock_password": True})
    assert user["options"] == {"ignore_password_expiry": True, "lock_password": True}


def test_create_user_unknown_option_is_400(admin):
    resp = admin.post(f"{V3}/users", json={"user": {"name": uid(), "options": {"bogus": True}}})
    assert resp.status_code == 400
    assert "options" in resp.json()["error"]["message"]


def test_create_user_option_of_wrong_type_is_400(admin):
    resp = admin.post(f"{V3}/users", json={"user": {"name": uid(), "options": {"lock_password": "yes"}}})
    assert resp.status_code == 400


def test_create_user_with_default_project(make):
    project = make.project()
    user = make.user(default_project_id=project["id"])
    assert user["default_project_id"] == project["id"]


def test_create_user_without_password_cannot_authenticate(make, http):
    user = make.user(password=None)
    resp = http.post(f"{V3}/auth/tokens", json=password_auth(user["name"], ""))
    assert resp.status_code == 401


def test_show_user_missing_is_404(admin):
    assert admin.get(f"{V3}/users/{uid()}").status_code == 404


def test_list_users_filters(make, admin):
    domain = make.domain()
    on = make.user(domain_id=domain["id"])
    off = make.user(domain_id=domain["id"], enabled=False)

    def ids(**params):
        resp = admin.get(f"{V3}/users", params=params)
        assert resp.status_code == 200
        return {u["id"] for u in resp.json()["users"]}

    assert ids(domain_id=domain["id"]) == {on["id"], off["id"]}
    assert ids(domain_id=domain["id"], enabled="false") == {off["id"]}
    assert ids(domain_id=domain["id"], enabled="true") == {on["id"]}
    assert ids(name=on["name"]) == {on["id"]}


def test_update_user(make, admin):
    user = make.user()
    new_name = uid("renamed")
    resp = admin.patch(f"{V3}/users/{user['id']}",
                       json={"user": {"name": new_name, "email": "new@example.org", "enabled": False}})
    assert resp.status_code == 200
    body = resp.json()["user"]
    assert (body["name"], body["email"], body["enabled"]) == (new_name, "new@example.org", False)
    assert "password" not in body


def test_update_user_options_set_and_clear(make, admin):
    user = make.user(options={"lock_password": True})
    path = f"{V3}/users/{user['id']}"
    body = admin.patch(path, json={"user": {"options": {"ignore_password_expiry": True}}}).json()["user"]
    assert body["options"] == {"lock_password": True, "ignore_password_expiry": True}
    body = admin.patch(path, json={"user": {"options": {"lock_password": None}}}).json()["user"]
    assert body["options"] == {"ignore_password_expiry": True}


def test_update_user_domain_is_400(make, admin):
    domain = make.domain()
    user = make.user()
    resp = admin.patch(f"{V3}/users/{user['id']}", json={"user": {"domain_id": domain["id"]}})
    assert resp.status_code == 400


def test_update_user_duplicate_name_is_409(make, admin):
    first, second = make.user(), make.user()
    assert admin.patch(f"{V3}/users/{second['id']}", json={"user": {"name": first["name"]}}).status_code == 409


def test_update_user_missing_is_404(admin):
    assert admin.patch(f"{V3}/users/{uid()}", json={"user": {"description": "x"}}).status_code == 404


def test_delete_user(make, admin):
    user = make.user()
    assert admin.delete(f"{V3}/users/{user['id']}").status_code == 204
    assert admin.get(f"{V3}/users/{user['id']}").status_code == 404
    assert admin.delete(f"{V3}/users/{user['id']}").status_code == 404


def test_change_password_locked_password_is_refused(make, http):
    user = make.user(options={"lock_password": True})
    body = {"user": {"original_password": user["password"], "password": "another-pw"}}
    resp = http.post(f"{V3}/users/{user['id']}/password", json=body)
    assert resp.status_code in (400, 403)
    assert http.post(f"{V3}/auth/tokens", json=password_auth(user["name"], user["password"])).status_code == 201


def test_change_password_missing_user_is_4xx(http):
    body = {"user": {"original_password": "a", "password": "b"}}
    assert http.post(f"{V3}/users/{uid()}/password", json=body).status_code in (401, 404)


def test_show_user_self_as_member(demo):
    resp = demo.get(f"{V3}/users/{demo.user_id}")
    assert resp.status_code == 200
    assert resp.json()["user"]["name"] == "demo"


def test_show_user_other_as_member_is_403(demo, admin):
    assert demo.get(f"{V3}/users/{admin.user_id}").status_code == 403


def test_list_users_as_member_is_403(demo):
    assert demo.get(f"{V3}/users").status_code == 403
    assert demo.get(f"{V3}/users", params={"domain_id": "default"}).status_code == 403


def test_create_update_delete_user_as_member_is_403(make, demo, admin):
    user = make.user()
    assert demo.post(f"{V3}/users", json={"user": {"name": uid()}}).status_code == 403
    assert demo.patch(f"{V3}/users/{user['id']}", json={"user": {"enabled": False}}).status_code == 403
    assert demo.patch(f"{V3}/users/{demo.user_id}", json={"user": {"name": "hijack"}}).status_code == 403
    assert demo.delete(f"{V3}/users/{user['id']}").status_code == 403
    assert admin.get(f"{V3}/users/{user['id']}").json()["user"]["enabled"] is True
