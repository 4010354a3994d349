"""web-download import: disabled by default as upstream answers it, URL filtering, and the download
from a loopback HTTP server this module starts (to active, or back to queued with nothing kept)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from onestack.core.config import ImageSettings
from onestack.image.service.web_download import uri_allowed

from .conftest import OCTET, V2, qcow2_bytes

DATA = os.urandom(3 * (1 << 20) + 12345)
UNSAFE = qcow2_bytes(backing=True)  # a qcow2 with a backing file: refused by the format inspection


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/image.raw":
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            for i in range(0, len(DATA), 1 << 16):
                self.wfile.write(DATA[i:i + (1 << 16)])
        elif self.path in ("/backing.qcow2", "/big-backing.qcow2"):
            body = UNSAFE if self.path == "/backing.qcow2" else UNSAFE + DATA  # past the first 4 MiB block
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/image.raw")
            self.end_headers()
        elif self.path == "/moved-away":  # to a host the filters refuse
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/image.raw")
            self.end_headers()
        elif self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA[: len(DATA) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture(scope="module")
def origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def enabled(cloud, monkeypatch):
    client = cloud.clients["image"]
    settings = dataclasses.replace(client.settings, enabled_import_methods="glance-direct,web-download",
                                   web_download_allowed_hosts="127.0.0.1", web_download_allowed_ports="")
    monkeypatch.setattr(client, "settings", settings)
    return client


def _import(session, image_id: str, uri: str | None):
    method = {"name": "web-download"} if uri is None else {"name": "web-download", "uri": uri}
    return session.post(f"{V2}/images/{image_id}/import", json={"method": method})


def _settled(session, image_id: str, deadline: float = 60.0) -> dict:
    """The image once its import is no longer in progress (polled, never slept on blindly)."""
    end = time.monotonic() + deadline
    while True:
        body = session.get(f"{V2}/images/{image_id}").json()
        if body["status"] != "importing" and "os_glance_import_task" not in body:
            return body
        assert time.monotonic() < end, body
        time.sleep(0.05)


def test_disabled_by_default_answers_unknown_method(admin, images):
    assert "web-download" not in admin.get(f"{V2}/info/import").json()["import-methods"]["value"]
    image = images.create()
    resp = _import(admin, image["id"], "http://example.com/x.img")
    assert resp.status_code == 400
    assert resp.json()["message"] == "Unknown import method name 'web-download'."


def test_web_download_to_active(admin, images, enabled, origin):
    assert "web-download" in admin.get(f"{V2}/info/import").json()["import-methods"]["value"]
    image = images.create()
    resp = _import(admin, image["id"], f"{origin}/image.raw")
    assert resp.status_code == 202, resp.text
    body = _settled(admin, image["id"])
    assert body["status"] == "active", body
    assert body["size"] == len(DATA) and body["checksum"] == hashlib.md5(DATA).hexdigest()
    assert body["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert body["os_glance_importing_to_stores"] == "" and body["os_glance_failed_import"] == ""
    assert admin.get(f"{V2}/images/{image['id']}/file").content == DATA


def test_web_download_follows_allowed_redirect(admin, images, enabled, origin):
    image = images.create()
    assert _import(admin, image["id"], f"{origin}/moved").status_code == 202
    assert _settled(admin, image["id"])["status"] == "active"


@pytest.mark.parametrize("path", ["/missing", "/truncated", "/moved-away"])
def test_web_download_failure_back_to_queued_nothing_kept(admin, images, enabled, origin, path):
    image = images.create()
    _failed_import_leaves_queued(admin, image, enabled, origin, path)


@pytest.mark.parametrize("path", ["/backing.qcow2", "/big-backing.qcow2"])
def test_web_download_refused_by_inspection_back_to_queued(admin, images, enabled, origin, path):
    """Data the format inspection refuses (a qcow2 with a backing file) fails the import as upstream's
    task does: back to queued, the store in os_glance_failed_import, no data kept."""
    image = images.create(disk_format="qcow2")
    _failed_import_leaves_queued(admin, image, enabled, origin, path, retry=None)


def _failed_import_leaves_queued(admin, image, enabled, origin, path, retry="/image.raw"):
    assert _import(admin, image["id"], origin + path).status_code == 202
    body = _settled(admin, image["id"])
    assert body["status"] == "queued" and body["size"] is None and body["checksum"] is None
    assert body["os_glance_failed_import"] == "file" and body["os_glance_importing_to_stores"] == ""
    assert enabled.store.ids().count(image["id"]) == 0
    assert not list((enabled.store.root / ".partial").iterdir())
    if retry is None:
        return
    # the failed import can be retried
    assert _import(admin, image["id"], origin + retry).status_code == 202
    body = _settled(admin, image["id"])
    assert body["status"] == "active" and body["os_glance_failed_import"] == ""


def test_web_download_refused_uris_bad_request(admin, images, enabled, origin, cloud, monkeypatch):
    image = images.create()
    for uri in (None, "ftp://127.0.0.1/x.img", "http://localhost/x.img", "not a url"):
        resp = _import(admin, image["id"], uri)
        assert resp.status_code == 400, (uri, resp.text)
        assert resp.json()["message"] == f"URI for web-download does not pass filtering: {uri}"
    monkeypatch.setattr(enabled, "settings", dataclasses.replace(enabled.settings, web_download_allowed_hosts="",
                                                                 web_download_allowed_ports="80,443"))
    resp = _import(admin, image["id"], f"{origin}/image.raw")  # the default ports: 80 and 443 only
    assert resp.status_code == 400
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["status"] == "queued" and "os_glance_import_task" not in body


def test_web_download_needs_queued_image(admin, images, enabled, origin):
    active = images.active()
    resp = _import(admin, active["id"], f"{origin}/image.raw")
    assert resp.status_code == 409 and "active" in resp.json()["message"]
    staged = images.create()
    assert admin.request("PUT", f"{V2}/images/{staged['id']}/stage", content=b"x", headers=OCTET).status_code == 204
    resp = _import(admin, staged["id"], f"{origin}/image.raw")
    assert resp.status_code == 409
    assert resp.json()["message"] == "Image needs to be in 'queued' state to use 'web-download' method"
    no_format = images.create(disk_format=None)
    assert _import(admin, no_format["id"], f"{origin}/image.raw").status_code == 409


@pytest.mark.parametrize("options,uri,ok", [
    ({}, "http://example.com/a.img", True),
    ({}, "https://example.com:443/a.img", True),
    ({}, "http://example.com:8080/a.img", False),
    ({}, "ftp://example.com/a.img", False),
    ({}, "http:///a.img", False),
    ({"web_download_allowed_schemes": "", "web_download_disallowed_schemes": "http"}, "http://e.com/", False),
    ({"web_download_allowed_schemes": "", "web_download_disallowed_schemes": "http"}, "ftp://e.com/", True),
    ({"web_download_allowed_schemes": "https", "web_download_disallowed_schemes": "https"}, "https://e.com/", True),
    ({"web_download_disallowed_hosts": "169.254.169.254"}, "http://169.254.169.254/latest", False),
    ({"web_download_allowed_hosts": "a.com", "web_download_disallowed_hosts": "a.com"}, "http://a.com/", True),
    ({"web_download_allowed_hosts": "a.com"}, "http://b.com/", False),
    ({"web_download_allowed_ports": "", "web_download_disallowed_ports": "22"}, "http://e.com:22/", False),
    ({"web_download_allowed_ports": "", "web_download_disallowed_ports": "22"}, "http://e.com:8080/", True),
    ({}, "http://e.com:99999/", False),
])
def test_uri_filtering_as_upstream(options, uri, ok):
    assert uri_allowed(ImageSettings(**options), uri) is ok
