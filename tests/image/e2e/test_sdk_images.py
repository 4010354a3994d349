"""openstacksdk's image calls against a real ``onestack up``."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

pytestmark = pytest.mark.e2e


def test_create_download_image_with_sdk(sdk, name, tmp_path):
    data = os.urandom(5 * (1 << 20) + 7)
    src = tmp_path / "sdk.img"
    src.write_bytes(data)
    image = sdk.image.create_image(name, filename=str(src), disk_format="raw", container_format="bare",
                                   wait=True, validate_checksum=True, meta={"os_version": "12"})
    try:
        fetched = sdk.image.get_image(image.id)
        assert fetched.status == "active" and fetched.size == len(data)
        assert fetched.checksum == hashlib.md5(data).hexdigest()
        assert fetched.hash_algo == "sha512" and fetched.hash_value == hashlib.sha512(data).hexdigest()
        out = io.BytesIO()
        sdk.image.download_image(image.id, output=out)
        assert out.getvalue() == data
        resp = sdk.image.download_image(image.id, stream=True)
        assert b"".join(resp.iter_content(1 << 20)) == data
        assert resp.headers["Content-MD5"] == fetched.checksum
        sdk.image.update_image(image.id, name=name + "-renamed", os_distro="debian")
        assert sdk.image.get_image(image.id).name == name + "-renamed"
        assert sdk.image.find_image(name + "-renamed").id == image.id
        sdk.image.add_tag(image.id, "sdk")
        assert [i.id for i in sdk.image.images(tag="sdk")] == [image.id]
    finally:
        sdk.image.delete_image(image.id, ignore_missing=True)
    assert sdk.image.find_image(image.id) is None


def test_sdk_schemas_and_stores(sdk):
    assert sdk.image.get_images_schema().properties["images"]["items"]["name"] == "image"
    assert [s.id for s in sdk.image.stores()] == ["file"]
    assert "glance-direct" in sdk.image.get_import_info().import_methods["value"]


def test_sdk_paginates_through_next_links(sdk, name):
    ids = [sdk.image.create_image(f"{name}-{i}", allow_duplicates=True, disk_format="raw",
                                  container_format="bare").id for i in range(5)]
    try:
        listed = [i.id for i in sdk.image.images(limit=2, tag=None, name=None) if i.id in ids]
        assert sorted(listed) == sorted(ids)
    finally:
        for image_id in ids:
            sdk.image.delete_image(image_id, ignore_missing=True)
