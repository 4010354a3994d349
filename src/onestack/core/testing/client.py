"""An in-process cloud for API tests: real app, real database, no sockets."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.testclient import TestClient

from onestack.core import config


def make_settings(data_dir: str, database_url: str = "", **sections) -> config.Settings:
    sections.setdefault("identity", {})
    sections["identity"] = {"bcrypt_rounds": 4, **sections["identity"]}
    sections.setdefault("server", {})
    sections["server"] = {"listen": "127.0.0.1:8080", "log_requests": False, **sections["server"]}
    sections.setdefault("database", {})
    sections["network"] = {"driver": "fake", **sections.get("network", {})}  # kernel objects only in backend tests
    sections["compute"] = {"driver": "fake", "bootstrap_image": False,  # containers only in backend tests
                           **sections.get("compute", {})}
    if database_url:
        sections["database"] = {"url": database_url, **sections["database"]}
    return config.load(env={}, data_dir=data_dir, **sections)


@dataclass
class Session:
    """A logged-in caller: sends requests with its token."""

    http: TestClient
    token: str
    body: dict

    @property
    def user_id(self) -> str:
        return self.body["token"]["user"]["id"]

    @property
    def project_id(self) -> str | None:
        return self.body["token"].get("project", {}).get("id")

    def request(self, method: str, path: str, **kw):
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path: str, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw)

    def head(self, path: str, **kw):
        return self.request("HEAD", path, **kw)


def password_auth(user: str, password: str, project: str | None = None, domain: str = "Default",
                  scope: dict | str | None = None) -> dict:
    auth: dict = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": domain}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def login(http: TestClient, user: str, password: str, project: str | None = None, **kw) -> Session:
    resp = http.post("/identity/v3/auth/tokens", json=password_auth(user, password, project, **kw))
    assert resp.status_code == 201, resp.text
    return Session(http, resp.headers["X-Subject-Token"], resp.json())
