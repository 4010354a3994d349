"""Backups into the filesystem backup store: create, list, show, restore (new and existing), delete."""

from pathlib import Path

from .conftest import LATEST, V3, uid, wait_for


def wait_backup(admin, backup_id, status="available"):
    backup = wait_for(lambda: admin.get(f"{V3}/backups/{backup_id}").json().get("backup"),
                      lambda b: b is not None and b["status"] not in ("creating", "restoring", "deleting"))
    assert backup["status"] == status, backup
    return backup


def test_create_backup_and_restore(admin, vols, cloud):
    client = cloud.clients["block-storage"]
    vol = vols.create()
    client.driver.write(vol["id"], 8192, b"backed-up-bytes")
    resp = admin.post(f"{V3}/backups", json={"backup": {"volume_id": vol["id"], "name": uid("bk")}})
    assert resp.status_code == 202, resp.text
    backup_id = resp.json()["backup"]["id"]
    vols.created.append(("backups", backup_id, admin))
    backup = wait_backup(admin, backup_id)
    assert backup["volume_id"] == vol["id"] and backup["size"] == 1 and backup["object_count"] == 1
    assert (Path(client.backup_root) / backup_id / "volume.img").exists()
    assert vols.get(vol["id"])["status"] == "available"
    assert backup_id in [b["id"] for b in admin.get(f"{V3}/backups").json()["backups"]]
    detail = admin.get(f"{V3}/backups/detail", headers=LATEST).json()["backups"]
    assert next(b for b in detail if b["id"] == backup_id)["metadata"] == {}

    # restore into a new volume
    resp = admin.post(f"{V3}/backups/{backup_id}/restore", json={"restore": {"name": uid("restored")}})
    assert resp.status_code == 202, resp.text
    new_id = resp.json()["restore"]["volume_id"]
    vols.created.append(("volumes", new_id, admin))
    vols.wait(new_id, "available")
    wait_backup(admin, backup_id)
    assert client.driver.read(new_id, 8192, 15) == b"backed-up-bytes"

    # restore over the original after it changed
    client.driver.write(vol["id"], 8192, b"overwritten....")
    resp = admin.post(f"{V3}/backups/{backup_id}/restore", json={"restore": {"volume_id": vol["id"]}})
    assert resp.status_code == 202
    vols.wait(vol["id"], "available")
    assert client.driver.read(vol["id"], 8192, 15) == b"backed-up-bytes"

    assert admin.delete(f"{V3}/backups/{backup_id}").status_code == 202
    wait_for(lambda: admin.get(f"{V3}/backups/{backup_id}").status_code, lambda c: c == 404)
    assert not (Path(client.backup_root) / backup_id).exists()


def test_create_backup_of_in_use_volume_needs_force(admin, vols):
    vol = vols.create()
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-attach": {
        "instance_uuid": "11111111-2222-3333-4444-555555555555", "mountpoint": "/dev/vdb"}})
    resp = admin.post(f"{V3}/backups", json={"backup": {"volume_id": vol["id"]}})
    assert resp.status_code == 400
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-detach": {}})


def test_restore_backup_to_smaller_volume_is_400(admin, vols):
    vol = vols.create(size=2)
    resp = admin.post(f"{V3}/backups", json={"backup": {"volume_id": vol["id"]}})
    backup_id = resp.json()["backup"]["id"]
    vols.created.append(("backups", backup_id, admin))
    wait_backup(admin, backup_id)
    small = vols.create(size=1)
    resp = admin.post(f"{V3}/backups/{backup_id}/restore", json={"restore": {"volume_id": small["id"]}})
    assert resp.status_code == 400


def test_create_backup_with_unknown_field_is_400(admin):
    resp = admin.post(f"{V3}/backups", json={"backup": {"volume_id": "x", "colour": "red"}})
    assert resp.status_code == 400
