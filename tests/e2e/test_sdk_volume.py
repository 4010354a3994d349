"""openstacksdk's block storage proxy (it negotiates microversion 3.71) against the real server."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_sdk_volume_lifecycle(sdk, name):
    bs = sdk.block_storage
    vol = bs.wait_for_status(bs.create_volume(size=1, name=name, metadata={"k": "v"}), "available", wait=60)
    assert vol.volume_type_id and vol.metadata == {"k": "v"}
    bs.extend_volume(vol, 2)
    vol = bs.wait_for_status(bs.get_volume(vol.id), "available", wait=60)
    assert bs.get_volume(vol.id).size == 2
    snap = bs.wait_for_status(bs.create_snapshot(volume_id=vol.id, name=name), "available", wait=60)
    assert snap.id in [s.id for s in bs.snapshots(volume_id=vol.id)]
    backup = bs.wait_for_status(bs.create_backup(volume_id=vol.id, name=name), "available", wait=60)
    quota = bs.get_quota_set(sdk.current_project_id, usage=True)
    assert quota.usage["volumes"] >= 1 and quota.usage["backups"] >= 1
    assert "nova" in [z.name for z in bs.availability_zones()]
    bs.delete_backup(backup)
    bs.wait_for_delete(backup, wait=60)
    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, wait=60)
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, wait=60)


def test_sdk_volume_attachment_and_transfer(sdk, name):
    bs = sdk.block_storage
    vol = bs.wait_for_status(bs.create_volume(size=1, name=name), "available", wait=60)
    att = bs.create_attachment(vol.id, instance="0c7d2a8e-0000-4000-8000-000000000001")
    assert att.status == "reserved" and bs.get_volume(vol.id).status == "reserved"
    bs.delete_attachment(att)
    assert bs.get_volume(vol.id).status == "available"
    transfer = bs.create_transfer(volume_id=vol.id, name=name)
    assert transfer.auth_key and bs.get_volume(vol.id).status == "awaiting-transfer"
    bs.delete_transfer(transfer)
    assert bs.get_volume(vol.id).status == "available"
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, wait=60)
