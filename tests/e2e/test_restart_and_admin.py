"""Re-running ``onestack up`` on the same data dir keeps everything; the operator commands work."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest
import yaml

from onestack.core.testing.process import ServerProcess, onestack_executable

from .conftest import SERVER_ENV

pytestmark = pytest.mark.e2e


def _password_auth(password: str) -> dict:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}


def _issue(base: str, password: str) -> str:
    resp = httpx.post(base + "/identity/v3/auth/tokens", json=_password_auth(password))
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def _valid(base: str, token: str, subject: str) -> bool:
    resp = httpx.get(base + "/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": subject})
    assert resp.status_code in (200, 401, 404), resp.text
    return resp.status_code == 200


def _onestack(*args: str, data_dir) -> str:
    proc = subprocess.run([onestack_executable(), *args, "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, **SERVER_ENV})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout + proc.stderr


@pytest.fixture
def own_server(tmp_path):
    proc = ServerProcess(tmp_path / "data", env=SERVER_ENV, log_path=tmp_path / "server.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _admin_password(server: ServerProcess) -> str:
    return yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["onestack"]["auth"]["password"]


def test_rerunning_up_keeps_passwords_keys_and_rows(own_server):
    base = own_server.base_url
    password = _admin_password(own_server)
    token = _issue(base, password)
    created = httpx.post(base + "/identity/v3/projects", headers={"X-Auth-Token": token},
                         json={"project": {"name": "kept-across-restarts"}})
    assert created.status_code == 201, created.text
    keys_before = sorted(p.name for p in (own_server.data_dir / "fernet-keys").iterdir())

    own_server.restart()
    # Ready means identity answers; the other services may still be starting in the background, and
    # a request for them waits for them instead of failing.
    flavors = httpx.get(base + "/compute/v2.1/flavors", headers={"X-Auth-Token": token}, timeout=60)
    assert flavors.status_code == 200, flavors.text
    assert httpx.get(base + "/volume/v3", timeout=60).status_code in (200, 300)

    assert _admin_password(own_server) == password
    assert sorted(p.name for p in (own_server.data_dir / "fernet-keys").iterdir()) == keys_before
    assert _valid(base, token, token)  # an old token still validates: same keys
    assert _issue(base, password)  # same password
    project = httpx.get(base + "/identity/v3/projects/" + created.json()["project"]["id"],
                        headers={"X-Auth-Token": token})
    assert project.status_code == 200 and project.json()["project"]["name"] == "kept-across-restarts"
    # bootstrap did not duplicate anything
    users = httpx.get(base + "/identity/v3/users", headers={"X-Auth-Token": token}).json()["users"]
    assert sorted(u["name"] for u in users) == ["admin", "demo"]
    services = httpx.get(base + "/identity/v3/services", headers={"X-Auth-Token": token}).json()["services"]
    assert [s["type"] for s in services].count("identity") == 1
    identity = [s["id"] for s in services if s["type"] == "identity"]
    endpoints = httpx.get(base + "/identity/v3/endpoints", params={"service_id": identity[0]},
                          headers={"X-Auth-Token": token}).json()["endpoints"]
    assert sorted(e["interface"] for e in endpoints) == ["admin", "internal", "public"]


def test_db_upgrade_and_admin_bootstrap_are_idempotent(own_server):
    base = own_server.base_url
    password = _admin_password(own_server)
    token = _issue(base, password)
    own_server.stop()

    assert "up to date" in _onestack("db", "upgrade", data_dir=own_server.data_dir)
    assert "up to date" in _onestack("db", "upgrade", data_dir=own_server.data_dir)
    out = _onestack("admin", "bootstrap", "--listen", f"127.0.0.1:{own_server.port}", data_dir=own_server.data_dir)
    assert "bootstrapped" in out
    assert _admin_password(own_server) == password

    own_server.start()
    assert _valid(base, token, token)
    token2 = _issue(base, password)
    users = httpx.get(base + "/identity/v3/users", headers={"X-Auth-Token": token2}).json()["users"]
    assert sorted(u["name"] for u in users) == ["admin", "demo"]
    endpoints = httpx.get(base + "/identity/v3/endpoints", headers={"X-Auth-Token": token2}).json()["endpoints"]
    assert endpoints and all(e["url"].startswith(base + "/") for e in endpoints)  # still where the server is


def test_db_upgrade_creates_a_fresh_database(tmp_path):
    assert "up to date" in _onestack("db", "upgrade", data_dir=tmp_path / "fresh")
    assert (tmp_path / "fresh").is_dir()


def test_fernet_rotate_keeps_tokens_valid_on_a_running_server(own_server):
    base = own_server.base_url
    password = _admin_password(own_server)
    keys = own_server.data_dir / "fernet-keys"
    before = sorted(int(p.name) for p in keys.iterdir() if p.name.isdigit())
    old = _issue(base, password)

    out = _onestack("admin", "fernet-rotate", data_dir=own_server.data_dir)
    assert "primary" in out
    after = sorted(int(p.name) for p in keys.iterdir() if p.name.isdigit())
    assert max(after) == max(before) + 1 and 0 in after

    new = _issue(base, password)  # the running server encrypts with the new primary key
    assert _valid(base, new, old) and _valid(base, old, new)
    for _ in range(3):  # rotating beyond max_active_keys drops the oldest key and its tokens
        _onestack("admin", "fernet-rotate", data_dir=own_server.data_dir)
    time.sleep(1.1)  # a running server looks at the key directory at most once a second
    newest = _issue(base, password)
    assert _valid(base, newest, newest)
    assert not _valid(base, newest, old)

    own_server.restart()
    assert _valid(base, newest, newest)
