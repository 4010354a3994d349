"""Volume actions: extend, bootable, readonly, reset-status, force-delete, retype, attach bookkeeping."""

from .conftest import LATEST, V3, uid

SERVER = "11111111-2222-3333-4444-555555555555"


def act(session, vol_id, body, headers=None):
    return session.post(f"{V3}/volumes/{vol_id}/action", json=body, headers=headers or {})


def test_extend_volume_grows_file(admin, vols, cloud):
    vol = vols.create(size=1)
    assert act(admin, vol["id"], {"os-extend": {"new_size": 2}}).status_code == 202
    vol = vols.wait(vol["id"], "available")
    assert vol["size"] == 2
    assert cloud.clients["block-storage"].driver.volume_size(vol["id"]) == 2 * 1024 ** 3


def test_extend_volume_to_smaller_size_is_400(admin, vols):
    vol = vols.create(size=2)
    assert act(admin, vol["id"], {"os-extend": {"new_size": 1}}).status_code == 400
    assert act(admin, vol["id"], {"os-extend": {"new_size": "x"}}).status_code == 400


def test_extend_in_use_volume_needs_3_42(admin, vols):
    vol = vols.create(size=1)
    act(admin, vol["id"], {"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}})
    assert vols.get(vol["id"])["status"] == "in-use"
    assert act(admin, vol["id"], {"os-extend": {"new_size": 2}}).status_code == 400
    resp = act(admin, vol["id"], {"os-extend": {"new_size": 2}}, {"OpenStack-API-Version": "volume 3.42"})
    assert resp.status_code == 202
    vol = vols.wait(vol["id"], "in-use")
    assert vol["size"] == 2
    act(admin, vol["id"], {"os-detach": {}})


def test_set_bootable_volume(admin, vols):
    vol = vols.create()
    assert act(admin, vol["id"], {"os-set_bootable": {"bootable": True}}).status_code == 200
    assert vols.get(vol["id"])["bootable"] == "true"
    assert act(admin, vol["id"], {"os-set_bootable": {"bootable": "maybe"}}).status_code == 400


def test_update_readonly_flag_volume(admin, vols):
    vol = vols.create()
    assert act(admin, vol["id"], {"os-update_readonly_flag": {"readonly": True}}).status_code == 202
    assert vols.get(vol["id"])["metadata"]["readonly"] == "True"


def test_reset_status_volume_is_admin_only(admin, demo, vols):
    vol = vols.create(session=demo)
    assert act(demo, vol["id"], {"os-reset_status": {"status": "error"}}).status_code == 403
    assert act(admin, vol["id"], {"os-reset_status": {"status": "error"}}).status_code == 202
    assert vols.get(vol["id"], demo)["status"] == "error"
    assert act(admin, vol["id"], {"os-reset_status": {"status": "bogus"}}).status_code == 400


def test_force_delete_volume_in_error(admin, vols):
    vol = vols.create()
    act(admin, vol["id"], {"os-reset_status": {"status": "creating"}})
    assert admin.delete(f"{V3}/volumes/{vol['id']}").status_code == 400
    assert act(admin, vol["id"], {"os-force_delete": {}}).status_code == 202
    vols.wait(vol["id"], None)


def test_retype_volume(admin, vols):
    name = uid("type")
    admin.post(f"{V3}/types", json={"volume_type": {"name": name}})
    vol = vols.create()
    assert act(admin, vol["id"], {"os-retype": {"new_type": name, "migration_policy": "never"}}).status_code == 202
    assert vols.get(vol["id"])["volume_type"] == name
    assert act(admin, vol["id"], {"os-retype": {"new_type": name}}).status_code == 400
    assert act(admin, vol["id"], {"os-retype": {"new_type": "nope"}}).status_code == 404
    act(admin, vol["id"], {"os-retype": {"new_type": "__DEFAULT__"}})
    assert admin.delete(f"{V3}/types/{vols.get(vol['id'])['volume_type_id']}").status_code == 400


def test_unknown_action_is_400(admin, vols):
    vol = vols.create()
    assert act(admin, vol["id"], {"os-fly": {}}).status_code == 400


def test_reserve_attach_detach_volume_states(admin, vols):
    vol = vols.create()
    assert act(admin, vol["id"], {"os-reserve": None}).status_code == 202
    assert vols.get(vol["id"])["status"] == "attaching"
    assert act(admin, vol["id"], {"os-unreserve": None}).status_code == 202
    assert vols.get(vol["id"])["status"] == "available"
    act(admin, vol["id"], {"os-reserve": None})
    assert act(admin, vol["id"], {"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb",
                                                "mode": "rw"}}).status_code == 202
    shown = vols.get(vol["id"])
    assert shown["status"] == "in-use"
    (att,) = shown["attachments"]
    assert att["server_id"] == SERVER and att["device"] == "/dev/vdb"
    assert act(admin, vol["id"], {"os-reserve": None}).status_code == 400  # not multiattach
    assert act(admin, vol["id"], {"os-begin_detaching": None}).status_code == 202
    assert vols.get(vol["id"])["status"] == "detaching"
    assert act(admin, vol["id"], {"os-roll_detaching": None}).status_code == 202
    assert vols.get(vol["id"])["status"] == "in-use"
    assert act(admin, vol["id"], {"os-detach": {"attachment_id": att["attachment_id"]}}).status_code == 202
    shown = vols.get(vol["id"])
    assert shown["status"] == "available" and shown["attachments"] == []


def test_image_metadata_actions(admin, vols):
    vol = vols.create()
    resp = act(admin, vol["id"], {"os-set_image_metadata": {"metadata": {"hw_disk_bus": "virtio"}}})
    assert resp.status_code == 200 and resp.json()["metadata"] == {"hw_disk_bus": "virtio"}
    assert vols.get(vol["id"])["volume_image_metadata"] == {"hw_disk_bus": "virtio"}
    assert act(admin, vol["id"], {"os-show_image_metadata": None}).json()["metadata"] == {"hw_disk_bus": "virtio"}
    assert act(admin, vol["id"], {"os-unset_image_metadata": {"key": "hw_disk_bus"}}).status_code == 200
    assert act(admin, vol["id"], {"os-unset_image_metadata": {"key": "hw_disk_bus"}}).status_code == 404


def test_upload_volume_to_image_without_image_service_is_clear(admin, vols, cloud):
    vol = vols.create()
    resp = act(admin, vol["id"], {"os-volume_upload_image": {"image_name": uid("img"), "disk_format": "vmdk"}},
               LATEST)
    assert resp.status_code in (400, 501)


def test_revert_volume_to_latest_snapshot(admin, vols, cloud):
    driver = cloud.clients["block-storage"].driver
    vol = vols.create()
    driver.write(vol["id"], 0, b"first")
    older = vols.snapshot(vol["id"])
    driver.write(vol["id"], 0, b"secnd")
    latest = vols.snapshot(vol["id"])
    driver.write(vol["id"], 0, b"third")
    v340 = {"OpenStack-API-Version": "volume 3.40"}
    assert act(admin, vol["id"], {"revert": {"snapshot_id": latest["id"]}}).status_code == 400  # needs 3.40
    assert act(admin, vol["id"], {"revert": {"snapshot_id": older["id"]}}, v340).status_code == 400
    assert act(admin, vol["id"], {"revert": {"snapshot_id": latest["id"]}}, v340).status_code == 202
    vols.wait(vol["id"], "available")
    assert driver.read(vol["id"], 0, 5) == b"secnd"
    assert admin.get(f"{V3}/snapshots/{latest['id']}").json()["snapshot"]["status"] == "available"
