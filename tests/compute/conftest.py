"""Compute test helpers: microversion headers and unique names."""

from __future__ import annotations

import time
import uuid

import pytest

from onestack.core.testing.client import login

C = "/compute/v2.1"


def mv(version: str = "2.100") -> dict:
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.fixture
def uniq():
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_server(session, server_id: str, until=("ACTIVE", "ERROR", "SHUTOFF", "PAUSED", "SUSPENDED",
                                                "SHELVED_OFFLOADED", "VERIFY_RESIZE", "RESCUE"),
                timeout: float = 15.0, version: str = "2.100") -> dict:
    """Poll the server until its status is one of ``until`` and no task is in flight (or it is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = session.get(f"{C}/servers/{server_id}", headers=mv(version))
        if resp.status_code == 404:
            return {}
        body = resp.json()["server"]
        if body["status"] in until and body.get("OS-EXT-STS:task_state") is None:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} stuck in {body['status']}/{body.get('OS-EXT-STS:task_state')}")
        time.sleep(0.02)


def wait_gone(session, server_id: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while session.get(f"{C}/servers/{server_id}").status_code != 404:
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} was not deleted")
        time.sleep(0.02)


def boot(session, name: str, flavor: str = "c1", version: str = "2.100", wait: bool = True, **extra) -> dict:
    body = {"server": {"name": name, "imageRef": IMAGE[0], "flavorRef": flavor, "networks": "none", **extra}}
    resp = session.post(f"{C}/servers", json=body, headers=mv(version))
    assert resp.status_code == 202, resp.text
    server = resp.json()["server"]
    return wait_server(session, server["id"]) if wait else server


IMAGE = ["155d900f-4e14-4e4c-a73d-069cbf4541e6"]  # any id when the image service is absent


@pytest.fixture(scope="session", autouse=True)
def image_ref(http, passwords):
    """A public, active image to boot from (when the image service is mounted)."""
    admin = login(http, "admin", passwords["admin"], "admin")
    resp = admin.post("/image/v2/images", json={"name": "compute-test", "disk_format": "raw",
                                                "container_format": "bare", "visibility": "public"})
    if resp.status_code != 201:
        return IMAGE[0]
    image_id = resp.json()["id"]
    put = admin.put(f"/image/v2/images/{image_id}/file", content=b"fake disk",
                    headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 204, put.text
    IMAGE[0] = image_id
    return image_id


@pytest.fixture
def servers(admin):
    """Servers created through ``servers.append(id)`` are deleted after the test (as admin: the admin's own
    servers too, which a member could not delete; one left running keeps its host out of a new zone)."""
    created: list[str] = []
    yield created
    for server_id in created:
        admin.delete(f"{C}/servers/{server_id}")
    for server_id in created:
        wait_gone(admin, server_id)
