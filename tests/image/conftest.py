"""Image API tests share the session cloud: every test creates uniquely named images (and, when it
needs a third party, a project with a member user) and deletes them when it ends."""

from __future__ import annotations

import json
import struct
import uuid

import pytest

from onestack.core.testing.client import Session, login

V2 = "/image/v2"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTET = {"Content-Type": "application/octet-stream"}


def uid(prefix: str = "img") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def qcow2_bytes(virtual_size: int = 1 << 30, total: int = 4096, backing: bool = False) -> bytes:
    """A qcow2 header (version 3) padded to ``total`` bytes: enough for format inspection."""
    header = b"QFI\xfb" + struct.pack(">I", 3) + struct.pack(">Q", 512 if backing else 0) + b"\0" * 8 \
        + struct.pack(">Q", virtual_size)
    header += b"\0" * (104 - len(header))
    return header + b"\0" * (total - len(header))


def patch(session: Session, image_id: str, ops: list[dict], headers: dict | None = None):
    return session.request("PATCH", f"{V2}/images/{image_id}", content=json.dumps(ops),
                           headers={**PATCH, **(headers or {})})


def upload(session: Session, image_id: str, data: bytes, headers: dict | None = None):
    return session.request("PUT", f"{V2}/images/{image_id}/file", content=data, headers={**OCTET, **(headers or {})})


class Images:
    """Creates images as a given session and deletes them (as admin, unprotecting) afterwards."""

    def __init__(self, admin: Session) -> None:
        self.admin = admin
        self.ids: list[str] = []

    def create(self, session: Session | None = None, expect: int = 201, **fields) -> dict:
        session = session or self.admin
        body = {"name": uid(), "disk_format": "raw", "container_format": "bare", **fields}
        resp = session.post(f"{V2}/images", json=body)
        assert resp.status_code == expect, resp.text
        image = resp.json()
        if resp.status_code == 201:
            self.ids.append(image["id"])
        return image

    def active(self, session: Session | None = None, data: bytes = b"x" * 1000, **fields) -> dict:
        session = session or self.admin
        image = self.create(session, **fields)
        resp = upload(session, image["id"], data)
        assert resp.status_code == 204, resp.text
        return session.get(f"{V2}/images/{image['id']}").json()

    def cleanup(self) -> None:
        for image_id in self.ids:
            patch(self.admin, image_id, [{"op": "replace", "path": "/protected", "value": False}])
            self.admin.delete(f"{V2}/images/{image_id}")


@pytest.fixture
def images(admin):
    factory = Images(admin)
    yield factory
    factory.cleanup()


class Projects:
    """Third-party projects, each with a user holding the member role there."""

    def __init__(self, http, admin: Session) -> None:
        self.http = http
        self.admin = admin
        self.cleanup_paths: list[str] = []

    def member_session(self) -> Session:
        project = self.admin.post("/identity/v3/projects", json={"project": {"name": uid("prj")}}).json()["project"]
        self.cleanup_paths.append(f"/identity/v3/projects/{project['id']}")
        password = uid("pw")
        user = self.admin.post("/identity/v3/users", json={"user": {"name": uid("usr"), "password": password}})
        user = user.json()["user"]
        self.cleanup_paths.append(f"/identity/v3/users/{user['id']}")
        role = self.admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"][0]
        resp = self.admin.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
        assert resp.status_code == 204, resp.text
        return login(self.http, user["name"], password, project["name"])

    def cleanup(self) -> None:
        for path in reversed(self.cleanup_paths):
            self.admin.delete(path)


@pytest.fixture
def projects(http, admin):
    factory = Projects(http, admin)
    yield factory
    factory.cleanup()
