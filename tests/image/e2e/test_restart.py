"""The store across restarts of the real server: data survives; a crash mid-upload leaves nothing."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time

import pytest
import yaml

from onestack.core.testing.process import ServerProcess
from tests.e2e.conftest import SERVER_ENV

pytestmark = pytest.mark.e2e


def _token(server: ServerProcess) -> str:
    auth = yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["onestack"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    status, headers, _ = _call(server, None, "POST", "/identity/v3/auth/tokens", json.dumps(body))
    assert status == 201
    return headers["X-Subject-Token"]


def _call(server: ServerProcess, token: str | None, method: str, path: str, body=None, ctype="application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Content-Type": ctype}
    if token:
        headers["X-Auth-Token"] = token
    conn.request(method, path, body, headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.headers, data


def _create(server, token, name) -> str:
    status, _, body = _call(server, token, "POST", "/image/v2/images", json.dumps(
        {"name": name, "disk_format": "raw", "container_format": "bare"}))
    assert status == 201, body
    return json.loads(body)["id"]


def test_crash_mid_upload_cleaned_up_on_restart(tmp_path):
    server = ServerProcess(tmp_path / "data", env={**SERVER_ENV, "ONESTACK_NETWORK_DRIVER": "fake"},
                           log_path=tmp_path / "server.log")
    server.start()
    try:
        token = _token(server)
        kept = _create(server, token, "kept")
        data = os.urandom(3 << 20)
        status, _, _ = _call(server, token, "PUT", f"/image/v2/images/{kept}/file", data, "application/octet-stream")
        assert status == 204
        doomed = _create(server, token, "doomed")
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall((f"PUT /image/v2/images/{doomed}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {64 << 20}\r\n\r\n").encode())
        sock.sendall(os.urandom(12 << 20))
        partial = server.data_dir / "images" / ".partial"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in partial.iterdir()):  # bytes reached the store
            assert time.monotonic() < deadline, "upload never reached the store"
            time.sleep(0.05)
        server.proc.kill()  # a crash, not a shutdown
        server.proc.wait(10)
        sock.close()
        assert any(partial.iterdir())
        server.start()
        token = _token(server)
        # Ready means identity answers; the image service may still be starting (a request waits for it).
        status, _, body = _call(server, token, "GET", f"/image/v2/images/{doomed}")
        assert status == 200 and json.loads(body)["status"] == "queued"
        assert not any(partial.iterdir())
        status, headers, body = _call(server, token, "GET", f"/image/v2/images/{kept}/file")
        assert status == 200 and body == data
        # the retry goes chunked (no Content-Length), straight through uvicorn
        parts = [os.urandom(300000) for _ in range(20)]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("PUT", f"/image/v2/images/{doomed}/file", iter(parts), encode_chunked=True,
                     headers={"X-Auth-Token": token, "Content-Type": "application/octet-stream",
                              "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        assert resp.status == 204, resp.read()
        conn.close()
        status, headers, body = _call(server, token, "GET", f"/image/v2/images/{doomed}/file")
        assert status == 200 and body == b"".join(parts)
        assert headers["Content-MD5"] == hashlib.md5(body, usedforsecurity=False).hexdigest()
    finally:
        server.stop()
