"""Block storage API tests run against the session cloud, whose volume agent is running.

``vols`` creates volumes (and snapshots/backups) and force-deletes whatever a test leaves behind, so
no volume files outlive their test.
"""

from __future__ import annotations

import time
import uuid

import pytest

V3 = "/volume/v3"
LATEST = {"OpenStack-API-Version": "volume 3.71"}


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(fetch, predicate, timeout: float = 30.0):
    """Poll ``fetch()`` until ``predicate(value)``; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value}")
        time.sleep(0.01)


class Volumes:
    """Create volumes through the API and wait for the agent; cleans up at the end of the test."""

    def __init__(self, cloud, session) -> None:
        self.cloud = cloud
        self.session = session
        self.created: list[tuple[str, str, object]] = []  # (kind, id, session)

    def create(self, session=None, wait: str | None = "available", headers=None, **fields) -> dict:
        session = session or self.session
        fields.setdefault("size", 1)
        fields.setdefault("name", uid("vol"))
        resp = session.post(f"{V3}/volumes", json={"volume": fields}, headers=headers or LATEST)
        assert resp.status_code == 202, resp.text
        vol = resp.json()["volume"]
        self.created.append(("volumes", vol["id"], session))
        if wait:
            vol = self.wait(vol["id"], wait, session)
        return vol

    def get(self, volume_id: str, session=None) -> dict | None:
        resp = (session or self.session).get(f"{V3}/volumes/{volume_id}", headers=LATEST)
        return resp.json()["volume"] if resp.status_code == 200 else None

    def wait(self, volume_id: str, status: str | None, session=None, timeout: float = 30.0) -> dict | None:
        """Wait for ``status`` (None: until the volume is gone)."""
        if status is None:
            return wait_for(lambda: self.get(volume_id, session), lambda v: v is None, timeout)
        vol = wait_for(lambda: self.get(volume_id, session),
                       lambda v: v is not None and (v["status"] == status or v["status"].startswith("error")),
                       timeout)
        assert vol["status"] == status, vol
        return vol

    def snapshot(self, volume_id: str, session=None, wait: bool = True, **fields) -> dict:
        session = session or self.session
        resp = session.post(f"{V3}/snapshots", json={"snapshot": {"volume_id": volume_id, "name": uid("snap"),
                                                                    **fields}}, headers=LATEST)
        assert resp.status_code == 202, resp.text
        snap = resp.json()["snapshot"]
        self.created.append(("snapshots", snap["id"], session))
        if wait:
            snap = wait_for(lambda: session.get(f"{V3}/snapshots/{snap['id']}").json()["snapshot"],
                            lambda s: s["status"] != "creating")
            assert snap["status"] == "available", snap
        return snap

    def cleanup(self, admin) -> None:
        for kind, id_, _session in reversed(self.created):
            if kind == "volumes":
                admin.post(f"{V3}/volumes/{id_}/action", json={"os-reset_status": {"status": "available",
                                                                                   "attach_status": "detached"}})
                admin.delete(f"{V3}/volumes/{id_}?cascade=true")
            elif kind == "snapshots":
                admin.delete(f"{V3}/snapshots/{id_}")
            elif kind == "backups":
                admin.delete(f"{V3}/backups/{id_}")
        for agent in self.cloud.agents:
            agent.wait_idle()


@pytest.fixture
def vols(cloud, admin):
    helper = Volumes(cloud, admin)
    yield helper
    helper.cleanup(admin)


@pytest.fixture
def idle(cloud):
    def wait() -> None:
        for agent in cloud.agents:
            assert agent.wait_idle(30)

    return wait
