"""Volumes survive a restart of ``onestack up``: rows, files and their bytes; the agent keeps working."""

from __future__ import annotations

import time

import httpx
import pytest
import yaml

from onestack.core.testing.process import ServerProcess

from .conftest import SERVER_ENV

pytestmark = pytest.mark.e2e
V3 = "/volume/v3"


def _token(server: ServerProcess) -> str:
    auth = yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["onestack"]["auth"]
    resp = httpx.post(server.base_url + "/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    return resp.headers["X-Subject-Token"]


def _wait(client: httpx.Client, path: str, key: str, status: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        doc = client.get(path).json()[key]
        if doc["status"] == status:
            return doc
        assert time.monotonic() < deadline and not doc["status"].startswith("error"), doc
        time.sleep(0.05)


def test_volume_data_survives_restart(tmp_path):
    server = ServerProcess(tmp_path / "data", env={**SERVER_ENV, "ONESTACK_VOLUME_DRIVER": "file"},
                           log_path=tmp_path / "server.log")
    server.start()
    try:
        client = httpx.Client(base_url=server.base_url, headers={"X-Auth-Token": _token(server)}, timeout=30)
        vol = client.post(f"{V3}/volumes", json={"volume": {"size": 1, "name": "durable"}}).json()["volume"]
        _wait(client, f"{V3}/volumes/{vol['id']}", "volume", "available")
        path = tmp_path / "data" / "volumes" / f"volume-{vol['id']}.img"
        with open(path, "r+b") as fh:
            fh.seek(1 << 20)
            fh.write(b"survives-restarts")
        server.restart()
        client.headers["X-Auth-Token"] = _token(server)
        shown = client.get(f"{V3}/volumes/{vol['id']}").json()["volume"]
        assert shown["status"] == "available" and shown["name"] == "durable"
        with open(path, "rb") as fh:
            fh.seek(1 << 20)
            assert fh.read(17) == b"survives-restarts"
        snap = client.post(f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}).json()["snapshot"]
        _wait(client, f"{V3}/snapshots/{snap['id']}", "snapshot", "available")
        clone = client.post(f"{V3}/volumes", json={"volume": {"snapshot_id": snap["id"]}}).json()["volume"]
        _wait(client, f"{V3}/volumes/{clone['id']}", "volume", "available")
        with open(tmp_path / "data" / "volumes" / f"volume-{clone['id']}.img", "rb") as fh:
            fh.seek(1 << 20)
            assert fh.read(17) == b"survives-restarts"
        assert client.delete(f"{V3}/volumes/{vol['id']}?cascade=true").status_code == 202
        assert client.delete(f"{V3}/volumes/{clone['id']}").status_code == 202
        deadline = time.monotonic() + 30
        while list((tmp_path / "data" / "volumes").glob("*.img")):
            assert time.monotonic() < deadline, list((tmp_path / "data" / "volumes").iterdir())
            time.sleep(0.05)
    finally:
        server.stop()
