from onestack.core.testing.client import password_auth


def test_create_token_project_scoped_has_catalog_and_roles(http, passwords):
    resp = http.post("/identity/v3/auth/tokens", json=password_auth("admin", passwords["admin"], "admin"))
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert resp.headers["X-Subject-Token"]
    assert token["project"]["name"] == "admin"
    assert {"admin", "member", "reader"} <= {r["name"] for r in token["roles"]}
    assert any(s["type"] == "identity" for s in token["catalog"])
    assert resp.headers["X-Openstack-Request-Id"].startswith("req-")


def test_create_token_wrong_password_is_401_in_keystone_format(http):
    resp = http.post("/identity/v3/auth/tokens", json=password_auth("admin", "wrong", "admin"))
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == 401
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_validate_and_revoke_token(admin, http, passwords):
    resp = http.post("/identity/v3/auth/tokens", json=password_auth("demo", passwords["demo"], "demo"))
    subject = resp.headers["X-Subject-Token"]
    assert admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 200
    assert admin.head("/identity/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 200
    assert admin.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 204
    assert admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404
    assert http.get("/identity/v3/auth/projects", headers={"X-Auth-Token": subject}).status_code == 401
