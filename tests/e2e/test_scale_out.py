"""Scaled out: two `onestack api` processes share MariaDB, RabbitMQ and the key repository.

A change committed through one process (a revoked token, a disabled project) takes effect in the other
at once: each checks the database's identity change counter before trusting its caches (the bus hint
only frees memory early).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from onestack.core.testing import rabbit
from onestack.core.testing.client import password_auth
from onestack.core.testing.databases import throwaway_database

pytestmark = pytest.mark.e2e
ONESTACK = str(Path(sys.executable).with_name("onestack"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout=60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


@pytest.fixture
def two_api_processes(tmp_path):
    if not rabbit.available():
        pytest.skip("rabbitmqctl not installed")
    with throwaway_database("mariadb") as db_url, rabbit.throwaway_vhost() as bus_url:
        env = {**os.environ, "ONESTACK_DATABASE_URL": db_url, "ONESTACK_BUS_URL": bus_url,
               "ONESTACK_DATA_DIR": str(tmp_path), "ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4"}
        subprocess.run([ONESTACK, "admin", "bootstrap"], env=env, check=True, capture_output=True, timeout=120)
        urls, procs = [], []
        try:
            for _ in range(2):
                port = _free_port()
                procs.append(subprocess.Popen([ONESTACK, "api", "--listen", f"127.0.0.1:{port}"], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                urls.append(f"http://127.0.0.1:{port}")
            for url in urls:
                assert _wait(lambda u=url: httpx.get(f"{u}/identity/v3").status_code == 200)
            password = json.loads((tmp_path / "passwords.json").read_text())["admin"]
            yield urls, password
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)


def _token(url: str, password: str) -> str:
    resp = httpx.post(f"{url}/identity/v3/auth/tokens", json=password_auth("admin", password, "admin"))
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def test_revoke_token_in_one_process_is_effective_in_the_other(two_api_processes):
    (a, b), password = two_api_processes
    admin_b = _token(b, password)
    victim = _token(a, password)
    check = {"X-Auth-Token": admin_b, "X-Subject-Token": victim}
    assert httpx.get(f"{b}/identity/v3/auth/tokens", headers=check).status_code == 200  # cached in b now
    resp = httpx.delete(f"{a}/identity/v3/auth/tokens", headers={"X-Auth-Token": _token(a, password),
                                                                  "X-Subject-Token": victim})
    assert resp.status_code == 204
    assert httpx.get(f"{b}/identity/v3/auth/tokens", headers=check).status_code == 404


def test_disable_project_in_one_process_rejects_its_tokens_in_the_other(two_api_processes):
    (a, b), password = two_api_processes
    admin_a = {"X-Auth-Token": _token(a, password)}
    project = httpx.post(f"{a}/identity/v3/projects", headers=admin_a,
                         json={"project": {"name": f"scale-{os.getpid()}-{time.monotonic_ns()}"}}).json()["project"]
    user = httpx.get(f"{a}/identity/v3/users?name=admin", headers=admin_a).json()["users"][0]
    role = httpx.get(f"{a}/identity/v3/roles?name=member", headers=admin_a).json()["roles"][0]
    url = f"{a}/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}"
    assert httpx.put(url, headers=admin_a).status_code == 204
    body = password_auth("admin", password, scope={"project": {"id": project["id"]}})
    scoped = httpx.post(f"{b}/identity/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    assert httpx.get(f"{b}/identity/v3/auth/catalog", headers={"X-Auth-Token": scoped}).status_code == 200
    resp = httpx.patch(f"{a}/identity/v3/projects/{project['id']}", headers=admin_a,
                       json={"project": {"enabled": False}})
    assert resp.status_code == 200
    assert httpx.get(f"{b}/identity/v3/auth/catalog", headers={"X-Auth-Token": scoped}).status_code == 401
