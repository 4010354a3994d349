"""Identity runs on every supported database: SQLite, MariaDB and PostgreSQL (throwaway databases).

The cloud is shared by the whole session, so tests create uniquely named entities through the
``make`` factory, which deletes them again when the test ends.
"""

import os
import re
import uuid

import pytest

from onestack.core.testing.client import Session, login, password_auth
from onestack.core.testing.databases import throwaway_database

IDENTITY_BACKENDS = [b for b in os.environ.get("ONESTACK_IDENTITY_TEST_DATABASES", "sqlite,mariadb,postgresql")
                     .split(",") if b]

V3 = "/identity/v3"


@pytest.fixture(scope="session", params=IDENTITY_BACKENDS)
def db_url(request, tmp_path_factory):
    with throwaway_database(request.param, str(tmp_path_factory.mktemp("db"))) as url:
        yield url


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def role_id(admin: Session, name: str) -> str:
    resp = admin.get(f"{V3}/roles", params={"name": name})
    assert resp.status_code == 200, resp.text
    return resp.json()["roles"][0]["id"]


class Factory:
    """Creates entities through the API as admin and removes them (newest first) afterwards."""

    def __init__(self, admin: Session) -> None:
        self.admin = admin
        self._cleanup: list[tuple[str, str, dict | None]] = []

    def _create(self, path: str, key: str, body: dict) -> dict:
        resp = self.admin.post(f"{V3}/{path}", json={key: body})
        assert resp.status_code == 201, resp.text
        return resp.json()[key]

    def domain(self, **fields) -> dict:
        domain = self._create("domains", "domain", {"name": uid("dom"), **fields})
        # A domain must be disabled before it can be deleted.
        self._cleanup.append(("DELETE", f"domains/{domain['id']}", None))
        self._cleanup.append(("PATCH", f"domains/{domain['id']}", {"domain": {"enabled": False}}))
        return domain

    def project(self, **fields) -> dict:
        project = self._create("projects", "project", {"name": uid("prj"), **fields})
        self._cleanup.append(("DELETE", f"projects/{project['id']}", None))
        return project

    def user(self, password: str | None = "", **fields) -> dict:
        """A user with a password of its own (``None``: no password at all)."""
        body = {"name": uid("usr"), **fields}
        if password == "":
            password = uid("pw")
        if password is not None:
            body["password"] = password
        user = self._create("users", "user", body)
        user["password"] = password
        self._cleanup.append(("DELETE", f"users/{user['id']}", None))
        return user

    def group(self, **fields) -> dict:
        group = self._create("groups", "group", {"name": uid("grp"), **fields})
        self._cleanup.append(("DELETE", f"groups/{group['id']}", None))
        return group

    def role(self, **fields) -> dict:
        role = self._create("roles", "role", {"name": uid("role"), **fields})
        self._cleanup.append(("DELETE", f"roles/{role['id']}", None))
        return role

    def grant(self, role: str, *, user: str | None = None, group: str | None = None,
              project: str | None = None, domain: str | None = None, system: bool = False,
              inherited: bool = False) -> str:
        actor = f"users/{user}" if user else f"groups/{group}"
        target = "system" if system else (f"projects/{project}" if project else f"domains/{domain}")
        rid = role if re.fullmatch(r"[0-9a-f]{32}", role) else role_id(self.admin, role)
        path = f"{target}/{actor}/roles/{rid}"
        if inherited:
            path = f"OS-INHERIT/{path}/inherited_to_projects"
        resp = self.admin.put(f"{V3}/{path}")
        assert resp.status_code == 204, resp.text
        return path

    def member(self, role: str = "member", **project_fields) -> tuple[dict, dict, Session]:
        """A new project and a new user holding ``role`` on it, logged in to it."""
        project = self.project(**project_fields)
        user = self.user()
        self.grant(role, user=user["id"], project=project["id"])
        return project, user, self.login(user, project)

    def login(self, user: dict, project: dict | None = None, **kw) -> Session:
        domain = kw.pop("domain", "Default")
        if project is not None:
            kw["scope"] = {"project": {"id": project["id"]}}
        return login(self.admin.http, user["name"], user["password"], domain=domain, **kw)

    def token(self, user: dict, scope: dict | str | None = None, domain: str = "Default") -> str:
        resp = self.admin.http.post(f"{V3}/auth/tokens",
                                    json=password_auth(user["name"], user["password"], domain=domain, scope=scope))
        assert resp.status_code == 201, resp.text
        return resp.headers["X-Subject-Token"]

    def cleanup(self) -> None:
        for method, path, body in reversed(self._cleanup):
            self.admin.request(method, f"{V3}/{path}", json=body)


@pytest.fixture
def make(admin):
    factory = Factory(admin)
    yield factory
    factory.cleanup()


@pytest.fixture
def system_admin(http, passwords):
    return login(http, "admin", passwords["admin"], scope={"system": {"all": True}})
