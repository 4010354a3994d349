"""Snapshots: create, list, show, update, delete, metadata."""

from .conftest import LATEST, V3, uid, wait_for


def test_create_snapshot_lifecycle(admin, vols, cloud):
    vol = vols.create()
    snap = vols.snapshot(vol["id"], description="d", metadata={"a": "1"})
    assert snap["volume_id"] == vol["id"] and snap["size"] == 1 and snap["metadata"] == {"a": "1"}
    assert snap["os-extended-snapshot-attributes:progress"] == "100%"
    assert cloud.clients["block-storage"].driver.snapshot_exists(snap["id"])
    listed = admin.get(f"{V3}/snapshots", params={"volume_id": vol["id"]}).json()["snapshots"]
    assert [s["id"] for s in listed] == [snap["id"]]
    detail = admin.get(f"{V3}/snapshots/detail", headers=LATEST).json()["snapshots"]
    mine = next(s for s in detail if s["id"] == snap["id"])
    assert mine["user_id"] and mine["consumes_quota"] is True
    resp = admin.put(f"{V3}/snapshots/{snap['id']}", json={"snapshot": {"name": "renamed"}})
    assert resp.json()["snapshot"]["name"] == "renamed"
    url = f"{V3}/snapshots/{snap['id']}/metadata"
    assert admin.post(url, json={"metadata": {"b": "2"}}).json()["metadata"] == {"a": "1", "b": "2"}
    assert admin.put(url, json={"metadata": {"c": "3"}}).json()["metadata"] == {"c": "3"}
    assert admin.get(f"{url}/c").json() == {"meta": {"c": "3"}}
    assert admin.delete(f"{url}/c").status_code == 200
    assert admin.delete(f"{V3}/snapshots/{snap['id']}").status_code == 202
    wait_for(lambda: admin.get(f"{V3}/snapshots/{snap['id']}").status_code, lambda code: code == 404)
    assert not cloud.clients["block-storage"].driver.snapshot_exists(snap["id"])


def test_create_snapshot_of_in_use_volume_needs_force(admin, vols):
    vol = vols.create()
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-attach": {
        "instance_uuid": "11111111-2222-3333-4444-555555555555", "mountpoint": "/dev/vdb"}})
    resp = admin.post(f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": uid()}})
    assert resp.status_code == 400
    vols.snapshot(vol["id"], force=True)
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-detach": {}})


def test_create_snapshot_of_unknown_volume_is_404(admin):
    resp = admin.post(f"{V3}/snapshots", json={"snapshot": {"volume_id": "00000000-0000-0000-0000-000000000000"}})
    assert resp.status_code == 404


def test_create_snapshot_without_volume_is_400(admin):
    assert admin.post(f"{V3}/snapshots", json={"snapshot": {"name": "x"}}).status_code == 400


def test_show_snapshot_of_other_project_is_404(admin, demo, vols):
    vol = vols.create()
    snap = vols.snapshot(vol["id"])
    assert demo.get(f"{V3}/snapshots/{snap['id']}").status_code == 404


def test_create_snapshot_response_is_a_summary(admin, vols):
    # regression: create/update answer without the os-extended-snapshot-attributes (Tempest's schema)
    vol = vols.create()
    resp = admin.post(f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": uid()}})
    body = resp.json()["snapshot"]
    vols.created.append(("snapshots", body["id"], admin))
    assert "os-extended-snapshot-attributes:progress" not in body
    wait_for(lambda: admin.get(f"{V3}/snapshots/{body['id']}").json()["snapshot"]["status"],
             lambda s: s == "available")


def test_create_snapshot_with_null_volume_id_is_404(admin):
    resp = admin.post(f"{V3}/snapshots", json={"snapshot": {"volume_id": None}})
    assert resp.status_code == 404
