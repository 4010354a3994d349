"""The v3 attachments API (3.27+): reserve, connect, complete, delete."""

from .conftest import V3

V327 = {"OpenStack-API-Version": "volume 3.27"}
V344 = {"OpenStack-API-Version": "volume 3.44"}
SERVER = "aaaaaaaa-2222-3333-4444-555555555555"


def test_attachment_lifecycle(admin, vols):
    vol = vols.create()
    resp = admin.post(f"{V3}/attachments", json={"attachment": {"volume_uuid": vol["id"],
                                                                "instance_uuid": SERVER}}, headers=V327)
    assert resp.status_code == 200, resp.text
    att = resp.json()["attachment"]
    assert att["status"] == "reserved" and att["instance"] == SERVER
    assert vols.get(vol["id"])["status"] == "reserved"
    resp = admin.put(f"{V3}/attachments/{att['id']}", json={"attachment": {"connector": {
        "host": "compute1", "mountpoint": "/dev/vdb"}}}, headers=V327)
    assert resp.status_code == 200
    info = resp.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "file" and info["data"]["volume_id"] == vol["id"]
    assert vols.get(vol["id"])["status"] == "attaching"
    assert admin.post(f"{V3}/attachments/{att['id']}/action", json={"os-complete": None},
                      headers=V344).status_code == 204
    shown = vols.get(vol["id"])
    assert shown["status"] == "in-use" and shown["attachments"][0]["attachment_id"] == att["id"]
    listed = admin.get(f"{V3}/attachments", params={"volume_id": vol["id"]}, headers=V327).json()["attachments"]
    assert [a["id"] for a in listed] == [att["id"]]
    assert admin.get(f"{V3}/attachments/{att['id']}", headers=V327).json()["attachment"]["status"] == "attached"
    assert admin.delete(f"{V3}/attachments/{att['id']}", headers=V327).status_code == 200
    assert vols.get(vol["id"])["status"] == "available"
    assert admin.get(f"{V3}/attachments/{att['id']}", headers=V327).status_code == 404


def test_attachments_need_3_27(admin):
    assert admin.get(f"{V3}/attachments").status_code == 404


def test_create_attachment_of_unknown_volume_is_404(admin):
    resp = admin.post(f"{V3}/attachments", json={"attachment": {
        "volume_uuid": "00000000-0000-0000-0000-000000000000"}}, headers=V327)
    assert resp.status_code == 404
