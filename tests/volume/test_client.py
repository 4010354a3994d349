"""The facade compute uses: boot volumes, reserve/attach/detach with real loop devices, re-attach."""

import os
from pathlib import Path

import pytest

from onestack.core.errors import ApiError

from .conftest import uid

SERVER_A = "aaaaaaaa-0000-4000-8000-00000000000a"
SERVER_B = "bbbbbbbb-0000-4000-8000-00000000000b"


@pytest.fixture
def client(cloud):
    return cloud.clients["block-storage"]


@pytest.fixture
def ctx(cloud, admin):
    return cloud.identity.authenticate(admin.token)


def test_create_volume_for_boot_from_volume_and_delete(client, ctx, vols, idle):
    src = vols.create(size=1)
    client.driver.write(src["id"], 0, b"bootable-bits")
    doc = client.create_volume_for_boot(ctx, size=None, volume_id=src["id"], name=uid("boot"))
    assert doc["status"] == "creating" and doc["size"] == 1
    vols.created.append(("volumes", doc["id"], None))
    assert client.wait_for_status(doc["id"])["status"] == "available"
    assert client.driver.read(doc["id"], 0, 13) == b"bootable-bits"
    client.delete_volume(ctx, doc["id"])
    vols.wait(doc["id"], None)


def test_attach_volume_data_survives_reattach_to_other_server(client, ctx, vols):
    vol = vols.create(size=1)
    attachment_id = client.reserve(ctx, vol["id"], SERVER_A)
    assert attachment_id and vols.get(vol["id"])["status"] == "reserved"
    block = client.driver.can_attach_block and os.geteuid() == 0
    info = client.attach(vol["id"], SERVER_A, "host1", "/dev/vdb", kind="loop" if block else "file")
    try:
        shown = vols.get(vol["id"])
        assert shown["status"] == "in-use" and shown["attachments"][0]["server_id"] == SERVER_A
        target = info["data"]["device"] if block else info["data"]["path"]
        assert Path(target).exists() or not block
        if block:
            with open(target, "r+b") as dev:
                dev.write(b"written-by-server-a")
                dev.flush()
                os.fsync(dev.fileno())
        else:
            client.driver.write(vol["id"], 0, b"written-by-server-a")
    finally:
        client.detach(vol["id"], SERVER_A)
    assert vols.get(vol["id"])["status"] == "available"
    if block:
        assert not Path(target).exists() or client.driver._loops(client.driver.volume_path(vol["id"])) == []
    client.reserve(ctx, vol["id"], SERVER_B)
    info = client.attach(vol["id"], SERVER_B, "host1", "/dev/vdb", kind="loop" if block else "file")
    try:
        if block:
            with open(info["data"]["device"], "rb") as dev:
                assert dev.read(19) == b"written-by-server-a"
        else:
            assert client.driver.read(vol["id"], 0, 19) == b"written-by-server-a"
    finally:
        client.detach(vol["id"], SERVER_B)


def test_reserve_in_use_volume_is_refused(client, ctx, vols):
    vol = vols.create()
    client.reserve(ctx, vol["id"], SERVER_A)
    client.attach(vol["id"], SERVER_A, "host1", "/dev/vdb", kind="file")
    try:
        with pytest.raises(ApiError) as err:
            client.reserve(ctx, vol["id"], SERVER_B)
        assert err.value.status == 400
    finally:
        client.detach(vol["id"], SERVER_A)


def test_get_volume_of_unknown_id_is_404(client, ctx):
    with pytest.raises(ApiError) as err:
        client.get_volume(ctx, "00000000-0000-0000-0000-000000000000")
    assert err.value.status == 404
