import hashlib
import os
import uuid

import pytest

from .conftest import OCTET, V2, patch, qcow2_bytes, upload


def test_upload_download_image_data(admin, images):
    data = os.urandom(3 * (1 << 20) + 123)
    image = images.create()
    assert upload(admin, image["id"], data).status_code == 204
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["status"] == "active" and body["size"] == len(data) and body["virtual_size"] == len(data)
    assert body["checksum"] == hashlib.md5(data).hexdigest()
    assert body["os_hash_algo"] == "sha512" and body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert body["stores"] == "file"
    resp = admin.get(f"{V2}/images/{image['id']}/file")
    assert resp.status_code == 200 and resp.content == data
    assert resp.headers["Content-MD5"] == body["checksum"]
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert int(resp.headers["Content-Length"]) == len(data)


def test_upload_image_data_chunked(admin, images):
    image = images.create()
    parts = [os.urandom(70000) for _ in range(5)]
    resp = admin.request("PUT", f"{V2}/images/{image['id']}/file", content=iter(parts), headers=OCTET)
    assert resp.status_code == 204, resp.text
    assert admin.get(f"{V2}/images/{image['id']}/file").content == b"".join(parts)


def test_upload_empty_image_active_zero(admin, images):
    image = images.create()
    assert upload(admin, image["id"], b"").status_code == 204
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["status"] == "active" and body["size"] == 0


def test_upload_qcow2_virtual_size(admin, images):
    image = images.create(disk_format="qcow2")
    assert upload(admin, image["id"], qcow2_bytes(5 << 30)).status_code == 204
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["virtual_size"] == 5 << 30 and body["size"] == 4096


@pytest.mark.parametrize("disk_format,data", [
    ("raw", qcow2_bytes()),
    ("qcow2", b"not a qcow2 image" * 100),
    ("qcow2", qcow2_bytes(backing=True)),
])
def test_upload_mismatched_or_unsafe_format_bad_request(admin, images, cloud, disk_format, data):
    image = images.create(disk_format=disk_format)
    resp = upload(admin, image["id"], data)
    assert resp.status_code == 400, resp.text
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["status"] == "queued" and body["size"] is None and body["checksum"] is None
    assert cloud.clients["image"].image_data_path(image["id"]) is None


def test_upload_to_active_image_conflict(admin, images):
    image = images.active()
    resp = upload(admin, image["id"], b"more")
    assert resp.status_code == 409
    assert admin.get(f"{V2}/images/{image['id']}/file").content == b"x" * 1000


def test_upload_without_formats_bad_request(admin, images):
    image = images.create(disk_format=None, container_format=None)
    assert upload(admin, image["id"], b"data").status_code == 400
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "queued"


def test_upload_wrong_content_type_unsupported(admin, images):
    image = images.create()
    resp = admin.request("PUT", f"{V2}/images/{image['id']}/file", content=b"x",
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 415


def test_upload_size_mismatch_declared_bad_request(admin, images, cloud):
    image = images.create()
    resp = upload(admin, image["id"], b"x" * 100, headers={"X-OpenStack-Image-Size": "50"})
    assert resp.status_code == 400
    resp = upload(admin, image["id"], b"x" * 100, headers={"X-OpenStack-Image-Size": "200"})
    assert resp.status_code == 400
    assert upload(admin, image["id"], b"x", headers={"X-OpenStack-Image-Size": "one"}).status_code == 400
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "queued"
    assert cloud.clients["image"].image_data_path(image["id"]) is None
    assert upload(admin, image["id"], b"x" * 100, headers={"X-OpenStack-Image-Size": "100"}).status_code == 204


def test_upload_over_size_cap_too_large(admin, images, cloud, monkeypatch):
    client = cloud.clients["image"]
    monkeypatch.setattr(client, "settings", client.settings.__class__(image_size_cap=1000))
    image = images.create()
    resp = upload(admin, image["id"], b"x" * 1001)
    assert resp.status_code == 413
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "queued"
    assert not list((client.store.root / ".partial").iterdir())


def test_upload_other_projects_image_not_found_or_forbidden(demo, images):
    private = images.create(visibility="private")
    assert upload(demo, private["id"], b"x").status_code == 404
    public = images.create(visibility="public")
    assert upload(demo, public["id"], b"x").status_code == 403
    assert demo.get(f"{V2}/images/{public['id']}").json()["status"] == "queued"


def test_download_queued_image_no_content(admin, images):
    image = images.create()
    resp = admin.get(f"{V2}/images/{image['id']}/file")
    assert resp.status_code == 204 and resp.content == b""


def test_download_unknown_image_not_found(admin):
    assert admin.get(f"{V2}/images/{uuid.uuid4()}/file").status_code == 404


@pytest.mark.parametrize("header,status,expected,content_range", [
    ({"Range": "bytes=0-9"}, 206, slice(0, 10), "bytes 0-9/1000"),
    ({"Range": "bytes=990-"}, 206, slice(990, 1000), "bytes 990-999/1000"),
    ({"Range": "bytes=-5"}, 206, slice(995, 1000), "bytes 995-999/1000"),
    ({"Range": "bytes=500-5000"}, 206, slice(500, 1000), "bytes 500-999/1000"),
    ({"Content-Range": "bytes 3-7/1000"}, 206, slice(3, 8), "bytes 3-7/1000"),
])
def test_download_image_range(admin, images, header, status, expected, content_range):
    data = os.urandom(1000)
    image = images.active(data=data)
    resp = admin.get(f"{V2}/images/{image['id']}/file", headers=header)
    assert resp.status_code == status
    assert resp.content == data[expected]
    assert resp.headers["Content-Range"] == content_range


@pytest.mark.parametrize("value", ["bytes=1000-", "bytes=5-2", "bytes=abc", "items=0-1", "bytes=-0"])
def test_download_image_bad_range_not_satisfiable(admin, images, value):
    image = images.active()
    resp = admin.get(f"{V2}/images/{image['id']}/file", headers={"Range": value})
    assert resp.status_code == 416


def test_delete_image_removes_data(admin, images, cloud):
    image = images.active()
    client = cloud.clients["image"]
    path = client.image_data_path(image["id"])
    assert path is not None and path.read_bytes() == b"x" * 1000
    assert admin.delete(f"{V2}/images/{image['id']}").status_code == 204
    assert not path.exists()


# -- stage + import -------------------------------------------------------------------------------


def test_stage_then_glance_direct_import(admin, images, cloud):
    data = os.urandom(200000)
    image = images.create()
    resp = admin.request("PUT", f"{V2}/images/{image['id']}/stage", content=data, headers=OCTET)
    assert resp.status_code == 204, resp.text
    staged = admin.get(f"{V2}/images/{image['id']}").json()
    assert staged["status"] == "uploading" and staged["size"] == len(data) and staged["checksum"] is None
    resp = admin.post(f"{V2}/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 202, resp.text
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["status"] == "active" and body["checksum"] == hashlib.md5(data).hexdigest()
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert body["os_glance_importing_to_stores"] == "" and body["os_glance_failed_import"] == ""
    assert "os_glance_import_task" not in body
    assert admin.get(f"{V2}/images/{image['id']}/file").content == data
    assert not cloud.clients["image"].staging.exists(image["id"])


@pytest.mark.parametrize("disk_format,data", [("qcow2", qcow2_bytes(backing=True)), ("raw", qcow2_bytes())])
def test_glance_direct_import_refused_by_inspection_back_to_queued(admin, images, cloud, disk_format, data):
    """As upstream's import task: staged data the format inspection refuses (unsafe, or not the image's
    disk_format) fails the import after its 202, the image goes back to queued with the store in
    os_glance_failed_import and the staged data is dropped; it was left uploading with the import a 400."""
    image = images.create(disk_format=disk_format)
    url = f"{V2}/images/{image['id']}"
    assert admin.request("PUT", f"{url}/stage", content=data, headers=OCTET).status_code == 204
    resp = admin.post(f"{url}/import", json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 202, resp.text
    body = admin.get(url).json()
    assert body["status"] == "queued" and body["size"] is None and body["checksum"] is None
    assert body["os_glance_failed_import"] == "file" and body["os_glance_importing_to_stores"] == ""
    assert "os_glance_import_task" not in body
    staging, store = cloud.clients["image"].staging, cloud.clients["image"].store
    assert not staging.exists(image["id"]) and image["id"] not in store.ids()
    # queued again: staged anew with acceptable data, the import succeeds and clears the failure
    good = qcow2_bytes() if disk_format == "qcow2" else os.urandom(4096)
    assert admin.request("PUT", f"{url}/stage", content=good, headers=OCTET).status_code == 204
    assert admin.post(f"{url}/import", json={"method": {"name": "glance-direct"}}).status_code == 202
    body = admin.get(url).json()
    assert body["status"] == "active" and body["os_glance_failed_import"] == ""


def test_import_without_stage_conflict(admin, images):
    image = images.create()
    resp = admin.post(f"{V2}/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 409


def test_import_active_image_conflict(admin, images):
    image = images.active()
    resp = admin.post(f"{V2}/images/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert resp.status_code == 409


@pytest.mark.parametrize("body,status", [
    ({"method": {"name": "web-download", "uri": "http://127.0.0.1/x.img"}}, 400),
    ({"method": {"name": "copy-image"}}, 400),
    ({"method": {}}, 400),
    ({}, 400),
    ({"method": {"name": "glance-direct"}, "all_stores": "yes"}, 400),
])
def test_import_bad_method_bad_request(admin, images, body, status):
    image = images.create()
    resp = admin.post(f"{V2}/images/{image['id']}/import", json=body)
    assert resp.status_code == status, resp.text
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "queued"


def test_stage_twice_conflict(admin, images):
    image = images.create()
    assert admin.request("PUT", f"{V2}/images/{image['id']}/stage", content=b"a", headers=OCTET).status_code == 204
    assert admin.request("PUT", f"{V2}/images/{image['id']}/stage", content=b"b", headers=OCTET).status_code == 409


def test_delete_staged_image_removes_staged_data(admin, images, cloud):
    image = images.create()
    admin.request("PUT", f"{V2}/images/{image['id']}/stage", content=b"abc", headers=OCTET)
    assert cloud.clients["image"].staging.exists(image["id"])
    assert admin.delete(f"{V2}/images/{image['id']}").status_code == 204
    assert not cloud.clients["image"].staging.exists(image["id"])


# -- quotas ---------------------------------------------------------------------------------------


@pytest.fixture
def limit(admin, cloud):
    """Set a project limit for an image resource through identity; removed afterwards."""
    created = []
    service_id = admin.get("/identity/v3/services", params={"type": "image"}).json()["services"][0]["id"]

    def set_limit(project_id: str, resource: str, value: int) -> None:
        resp = admin.post("/identity/v3/limits", json={"limits": [{
            "service_id": service_id, "project_id": project_id, "resource_name": resource,
            "resource_limit": value, "region_id": cloud.settings.server.region}]})
        assert resp.status_code == 201, resp.text
        created.append(resp.json()["limits"][0]["id"])

    yield set_limit
    for limit_id in created:
        admin.delete(f"/identity/v3/limits/{limit_id}")


def test_create_image_over_count_limit_too_large(projects, images, limit):
    other = projects.member_session()
    limit(other.project_id, "image_count_total", 2)
    images.create(other)
    images.create(other)
    resp = other.post(f"{V2}/images", json={"name": "third"})
    assert resp.status_code == 413 and "image_count_total" in resp.json()["message"]
    # the project's own images only: public images other tests leave behind are listed too
    assert len(other.get(f"{V2}/images", params={"owner": other.project_id}).json()["images"]) == 2


def test_upload_over_size_limit_too_large(projects, images, limit, cloud):
    """Refused before reading when the declared size is over, while streaming when chunked."""
    other = projects.member_session()
    limit(other.project_id, "image_size_total", 1)  # MiB
    first = images.create(other)
    assert upload(other, first["id"], b"x" * 800000).status_code == 204
    second = images.create(other)
    resp = upload(other, second["id"], b"y" * 400000)
    assert resp.status_code == 413 and "image_size_total" in resp.json()["message"]
    assert other.get(f"{V2}/images/{second['id']}").json()["status"] == "queued"
    assert cloud.clients["image"].image_data_path(second["id"]) is None
    resp = other.request("PUT", f"{V2}/images/{second['id']}/file", content=iter([b"y" * 200000, b"y" * 200000]),
                         headers=OCTET)
    assert resp.status_code == 413 and "quota" in resp.json()["message"]
    assert other.get(f"{V2}/images/{second['id']}").json()["status"] == "queued"
    usage = other.get(f"{V2}/info/usage").json()["usage"]["image_size_total"]
    assert usage == {"limit": 1, "usage": 1}


def test_patch_helper_roundtrip(admin, images):
    image = images.create()
    assert patch(admin, image["id"], [{"op": "add", "path": "/k", "value": "v"}]).json()["k"] == "v"


def test_upload_declared_size_over_quota_refused_before_reading(projects, images, limit):
    other = projects.member_session()
    limit(other.project_id, "image_size_total", 1)  # MiB
    image = images.create(other)
    resp = upload(other, image["id"], b"x" * 10, headers={"X-OpenStack-Image-Size": str(2 << 20)})
    assert resp.status_code == 413 and "image_size_total" in resp.json()["message"]
    assert other.get(f"{V2}/images/{image['id']}").json()["status"] == "queued"


def test_upload_store_full_too_large_and_queued(admin, images, cloud, monkeypatch):
    from onestack.image.backends import FakeImageStore

    client = cloud.clients["image"]
    monkeypatch.setattr(client, "store", FakeImageStore(id="file", capacity=5000))
    image = images.create()
    resp = upload(admin, image["id"], b"x" * 6000)
    assert resp.status_code == 413 and "full" in resp.json()["message"]
    body = admin.get(f"{V2}/images/{image['id']}").json()
    assert body["status"] == "queued" and body["size"] is None
    assert client.store.ids() == [] and client.store.partial == {}


def test_upload_mismatch_detected_from_header_early(admin, images, cloud):
    image = images.create(disk_format="qcow2")
    data = os.urandom(9 << 20)
    resp = admin.request("PUT", f"{V2}/images/{image['id']}/file", content=iter([data[:5 << 20], data[5 << 20:]]),
                         headers=OCTET)
    assert resp.status_code == 400 and "qcow2" in resp.json()["message"]
    assert admin.get(f"{V2}/images/{image['id']}").json()["status"] == "queued"


def test_read_ahead_yields_all_in_order_and_closes_the_store_iterator_early():
    import asyncio

    from onestack.image.api.image_data import _read_ahead

    closed = []

    def chunks():
        try:
            for i in range(5):
                yield bytes([i]) * 3
        finally:
            closed.append(True)

    async def whole():
        return [c async for c in _read_ahead(chunks())]

    async def first_two():
        gen = _read_ahead(chunks())
        got = [await gen.__anext__(), await gen.__anext__()]
        await gen.aclose()  # the client went away
        return got

    assert asyncio.run(whole()) == [bytes([i]) * 3 for i in range(5)] and closed == [True]
    assert asyncio.run(first_two()) == [b"\0\0\0", b"\1\1\1"] and closed == [True, True]
