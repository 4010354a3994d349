"""Volume transfers between projects."""

from .conftest import LATEST, V3, uid


def test_create_and_accept_transfer(admin, demo, vols):
    vol = vols.create(session=demo)
    resp = demo.post(f"{V3}/volume-transfers", json={"transfer": {"volume_id": vol["id"], "name": uid("tr")}},
                     headers=LATEST)
    assert resp.status_code == 202, resp.text
    transfer = resp.json()["transfer"]
    assert transfer["auth_key"] and transfer["source_project_id"] == demo.project_id
    assert vols.get(vol["id"], demo)["status"] == "awaiting-transfer"
    listed = demo.get(f"{V3}/os-volume-transfer").json()["transfers"]
    assert transfer["id"] in [t["id"] for t in listed]
    bad = admin.post(f"{V3}/os-volume-transfer/{transfer['id']}/accept", json={"accept": {"auth_key": "wrong"}})
    assert bad.status_code == 400
    resp = admin.post(f"{V3}/os-volume-transfer/{transfer['id']}/accept",
                      json={"accept": {"auth_key": transfer["auth_key"]}})
    assert resp.status_code == 202, resp.text
    moved = vols.get(vol["id"], admin)
    assert moved["status"] == "available" and moved["os-vol-tenant-attr:tenant_id"] == admin.project_id
    assert demo.get(f"{V3}/volumes/{vol['id']}").status_code == 404


def test_delete_transfer_restores_volume(demo, vols):
    vol = vols.create(session=demo)
    transfer = demo.post(f"{V3}/os-volume-transfer", json={"transfer": {"volume_id": vol["id"]}}).json()["transfer"]
    assert demo.delete(f"{V3}/os-volume-transfer/{transfer['id']}").status_code == 202
    assert vols.get(vol["id"], demo)["status"] == "available"
    assert demo.get(f"{V3}/os-volume-transfer/{transfer['id']}").status_code == 404


def test_create_transfer_of_in_use_volume_is_400(admin, vols):
    vol = vols.create()
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-attach": {
        "instance_uuid": "11111111-2222-3333-4444-555555555555", "mountpoint": "/dev/vdb"}})
    assert admin.post(f"{V3}/os-volume-transfer", json={"transfer": {"volume_id": vol["id"]}}).status_code == 400
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-detach": {}})
