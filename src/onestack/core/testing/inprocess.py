"""A cloud built in this process, served over loopback HTTP: the benches that count its CPU per request."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn


class Served:
    """An ASGI app served by uvicorn on ``127.0.0.1:port`` from a daemon thread (started when made)."""

    def __init__(self, app, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def admin_login(client: httpx.Client, password: str) -> tuple[str, str]:
    """(token, project id) of the bootstrap's admin on the admin project."""
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    resp = client.post("/identity/v3/auth/tokens", json=auth)
    resp.raise_for_status()
    return resp.headers["X-Subject-Token"], resp.json()["token"]["project"]["id"]


def public_image(client: httpx.Client, headers: dict) -> str:
    """A one-byte public raw image to boot fake guests from (a random id when there is no image service)."""
    resp = client.post("/image/v2/images", headers=headers, json={
        "name": "bench", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
    if resp.status_code != 201:
        import uuid

        return str(uuid.uuid4())
    image_ref = resp.json()["id"]
    client.put(f"/image/v2/images/{image_ref}/file", content=b"x",
               headers={**headers, "Content-Type": "application/octet-stream"})
    return image_ref
