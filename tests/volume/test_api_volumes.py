"""Volumes: create, list (filters, sorting, pagination), show, update, delete, metadata."""

from .conftest import LATEST, V3, uid


def test_create_volume_becomes_available(admin, vols):
    vol = vols.create(size=1, description="d", metadata={"k": "v"})
    assert vol["size"] == 1 and vol["bootable"] == "false" and vol["metadata"] == {"k": "v"}
    assert vol["volume_type"] == "__DEFAULT__"
    assert vol["consumes_quota"] is True and vol["volume_type_id"]


def test_create_volume_without_size_is_400(admin):
    resp = admin.post(f"{V3}/volumes", json={"volume": {"name": uid()}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["code"] == 400


def test_create_volume_with_bad_size_is_400(admin):
    for size in (0, -1, "abc", 1.5):
        resp = admin.post(f"{V3}/volumes", json={"volume": {"size": size}})
        assert resp.status_code == 400, size


def test_create_volume_with_unknown_type_is_404(admin):
    resp = admin.post(f"{V3}/volumes", json={"volume": {"size": 1, "volume_type": "no-such-type"}})
    assert resp.status_code == 404


def test_create_volume_with_unknown_zone_is_400(admin):
    resp = admin.post(f"{V3}/volumes", json={"volume": {"size": 1, "availability_zone": "mars"}})
    assert resp.status_code == 400


def test_create_volume_with_malformed_json_is_400(admin):
    resp = admin.request("POST", f"{V3}/volumes", content=b"{", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_create_volume_from_unknown_snapshot_is_404(admin):
    resp = admin.post(f"{V3}/volumes", json={"volume": {"size": 1,
                                                         "snapshot_id": "00000000-0000-0000-0000-000000000000"}})
    assert resp.status_code == 404


def test_show_volume_with_project_id_in_url(admin, vols):
    vol = vols.create()
    resp = admin.get(f"{V3}/{admin.project_id}/volumes/{vol['id']}")
    assert resp.status_code == 200
    body = resp.json()["volume"]
    assert body["id"] == vol["id"]
    assert f"/volume/v3/{admin.project_id}/volumes/" in body["links"][0]["href"]
    # 3.0 has no 3.48+ keys
    assert "shared_targets" not in body and "volume_type_id" not in body


def test_show_volume_of_other_project_is_404(demo, vols):
    vol = vols.create()
    assert demo.get(f"{V3}/volumes/{vol['id']}").status_code == 404


def test_list_volumes_summary_and_detail(admin, vols):
    vol = vols.create()
    summary = admin.get(f"{V3}/volumes").json()["volumes"]
    assert {"id", "name", "links"} == set(next(v for v in summary if v["id"] == vol["id"]))
    detail = admin.get(f"{V3}/volumes/detail").json()["volumes"]
    assert next(v for v in detail if v["id"] == vol["id"])["status"] == "available"


def test_list_volumes_filters_by_name_status_and_metadata(admin, vols):
    name = uid("filt")
    vol = vols.create(name=name, metadata={"color": "blue"})
    vols.create(metadata={"color": "red"})
    by_name = admin.get(f"{V3}/volumes/detail", params={"name": name}).json()["volumes"]
    assert [v["id"] for v in by_name] == [vol["id"]]
    by_meta = admin.get(f"{V3}/volumes/detail", params={"metadata": '{"color": "blue"}', "status": "available"})
    assert vol["id"] in [v["id"] for v in by_meta.json()["volumes"]]
    assert all(v["metadata"].get("color") == "blue" for v in by_meta.json()["volumes"])
    like = admin.get(f"{V3}/volumes", params={"name~": name[:8]}, headers=LATEST).json()["volumes"]
    assert vol["id"] in [v["id"] for v in like]


def test_list_volumes_sorts_and_paginates_with_next_links(admin, vols):
    prefix = uid("page")
    ids = {vols.create(name=f"{prefix}-{i}", size=i + 1)["id"] for i in range(3)}
    resp = admin.get(f"{V3}/volumes/detail", params={"limit": 2, "sort": "size:asc", "name~": prefix},
                     headers=LATEST)
    body = resp.json()
    assert [v["size"] for v in body["volumes"]] == [1, 2]
    next_href = body["volumes_links"][0]["href"]
    assert "marker=" in next_href
    rest = admin.get(next_href.split("127.0.0.1:8080", 1)[1], headers=LATEST).json()
    assert [v["size"] for v in rest["volumes"]] == [3]
    assert "volumes_links" not in rest  # a partial page has no next link
    assert {v["id"] for v in body["volumes"] + rest["volumes"]} == ids


def test_list_volumes_with_count(admin, vols):
    vols.create()
    body = admin.get(f"{V3}/volumes", params={"with_count": "true"}, headers=LATEST).json()
    assert body["count"] >= 1


def test_list_volumes_with_bad_sort_key_is_400(admin):
    assert admin.get(f"{V3}/volumes", params={"sort": "nope:asc"}).status_code == 400
    assert admin.get(f"{V3}/volumes", params={"sort": "size:sideways"}).status_code == 400


def test_list_volumes_with_unknown_marker_is_400(admin):
    assert admin.get(f"{V3}/volumes", params={"marker": "nope"}).status_code == 400


def test_list_volumes_all_tenants_for_admin(admin, demo, vols):
    vol = vols.create(session=demo)
    mine = admin.get(f"{V3}/volumes").json()["volumes"]
    assert vol["id"] not in [v["id"] for v in mine]
    everyone = admin.get(f"{V3}/volumes", params={"all_tenants": "1"}).json()["volumes"]
    assert vol["id"] in [v["id"] for v in everyone]
    # a member's all_tenants is ignored
    assert vol["id"] in [v["id"] for v in demo.get(f"{V3}/volumes", params={"all_tenants": "1"}).json()["volumes"]]


def test_update_volume_name_description_metadata(admin, vols):
    vol = vols.create()
    resp = admin.put(f"{V3}/volumes/{vol['id']}", json={"volume": {"name": "renamed", "description": "x",
                                                                   "metadata": {"a": "b"}}})
    assert resp.status_code == 200, resp.text
    body = resp.json()["volume"]
    assert (body["name"], body["description"], body["metadata"]) == ("renamed", "x", {"a": "b"})


def test_update_volume_with_unknown_field_is_400(admin, vols):
    vol = vols.create()
    assert admin.put(f"{V3}/volumes/{vol['id']}", json={"volume": {"size": 5}}).status_code == 400


def test_delete_volume_removes_it(admin, vols, cloud):
    vol = vols.create()
    assert admin.delete(f"{V3}/volumes/{vol['id']}").status_code == 202
    vols.wait(vol["id"], None)
    driver = cloud.clients["block-storage"].driver
    assert not driver.volume_exists(vol["id"])


def test_delete_volume_while_attached_is_400(admin, vols):
    vol = vols.create()
    resp = admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-attach": {
        "instance_uuid": "11111111-2222-3333-4444-555555555555", "mountpoint": "/dev/vdb"}})
    assert resp.status_code == 202
    resp = admin.delete(f"{V3}/volumes/{vol['id']}")
    assert resp.status_code == 400
    assert "attached" in resp.json()["badRequest"]["message"]
    admin.post(f"{V3}/volumes/{vol['id']}/action", json={"os-detach": {}})


def test_delete_volume_with_snapshots_needs_cascade(admin, vols):
    vol = vols.create()
    vols.snapshot(vol["id"])
    assert admin.delete(f"{V3}/volumes/{vol['id']}").status_code == 400
    assert admin.delete(f"{V3}/volumes/{vol['id']}?cascade=true").status_code == 202
    vols.wait(vol["id"], None)


def test_delete_volume_unknown_is_404(admin):
    assert admin.delete(f"{V3}/volumes/00000000-0000-0000-0000-000000000000").status_code == 404


def test_create_volume_metadata_crud(admin, vols):
    vol = vols.create(metadata={"a": "1"})
    url = f"{V3}/volumes/{vol['id']}/metadata"
    assert admin.post(url, json={"metadata": {"b": "2"}}).json()["metadata"] == {"a": "1", "b": "2"}
    assert admin.get(url).json()["metadata"] == {"a": "1", "b": "2"}
    assert admin.put(url, json={"metadata": {"c": "3"}}).json()["metadata"] == {"c": "3"}
    assert admin.get(f"{url}/c").json() == {"meta": {"c": "3"}}
    assert admin.put(f"{url}/c", json={"meta": {"c": "4"}}).json() == {"meta": {"c": "4"}}
    assert admin.put(f"{url}/c", json={"meta": {"d": "4"}}).status_code == 400
    assert admin.delete(f"{url}/c").status_code == 200
    assert admin.get(f"{url}/c").status_code == 404
    assert admin.post(url, json={"metadata": {"k": 1}}).status_code == 400


def test_create_volume_from_snapshot_and_source(admin, vols, cloud):
    vol = vols.create(size=1)
    driver = cloud.clients["block-storage"].driver
    driver.write(vol["id"], 4096, b"hello-snapshot")
    snap = vols.snapshot(vol["id"])
    driver.write(vol["id"], 4096, b"changed-after!")
    from_snap = vols.create(snapshot_id=snap["id"], size=2)
    assert from_snap["size"] == 2 and from_snap["snapshot_id"] == snap["id"]
    assert driver.read(from_snap["id"], 4096, 14) == b"hello-snapshot"
    clone = vols.create(source_volid=vol["id"], size=None)
    assert clone["size"] == 1 and clone["source_volid"] == vol["id"]
    assert driver.read(clone["id"], 4096, 14) == b"changed-after!"


def test_create_volume_smaller_than_snapshot_is_400(admin, vols):
    vol = vols.create(size=2)
    snap = vols.snapshot(vol["id"])
    resp = admin.post(f"{V3}/volumes", json={"volume": {"size": 1, "snapshot_id": snap["id"]}})
    assert resp.status_code == 400


def test_create_volume_response_has_no_get_only_attributes(admin, vols):
    # regression: Tempest's create/update schemas refuse the extension attributes GET adds
    resp = admin.post(f"{V3}/volumes", json={"volume": {"size": 1, "name": uid()}})
    body = resp.json()["volume"]
    vols.created.append(("volumes", body["id"], admin))
    assert "os-vol-tenant-attr:tenant_id" not in body and "os-vol-host-attr:host" not in body
    shown = vols.wait(body["id"], "available")
    assert shown["os-vol-tenant-attr:tenant_id"] == admin.project_id
    updated = admin.put(f"{V3}/volumes/{body['id']}", json={"volume": {"name": "x"}}).json()["volume"]
    assert "os-vol-tenant-attr:tenant_id" not in updated


def test_show_volume_without_id_is_404(admin):
    # regression: GET/PUT/DELETE on ".../volumes/" with an empty id are 404, not a list or 405
    assert admin.get(f"{V3}/volumes/").status_code == 404
    assert admin.delete(f"{V3}/volumes/").status_code == 404
    assert admin.put(f"{V3}/volumes/", json={"volume": {"name": "x"}}).status_code == 404


def test_list_volumes_full_last_page_has_next_link(admin, vols):
    # regression: upstream links a next page whenever a page is full (Tempest's pagination test)
    prefix = uid("full")
    for i in range(2):
        vols.create(name=f"{prefix}-{i}")
    body = admin.get(f"{V3}/volumes", params={"limit": 2, "name~": prefix}, headers=LATEST).json()
    assert len(body["volumes"]) == 2 and body["volumes_links"][0]["rel"] == "next"
    marker = body["volumes"][-1]["id"]
    rest = admin.get(f"{V3}/volumes", params={"limit": 2, "name~": prefix, "marker": marker},
                     headers=LATEST).json()
    assert rest["volumes"] == [] and "volumes_links" not in rest


def test_list_extensions_names_hosts(demo):
    names = [e["name"] for e in demo.get(f"{V3}/extensions").json()["extensions"]]
    assert "Hosts" in names


def test_show_volume_summary(admin, vols):
    vols.create(size=2, metadata={"tier": "gold"})
    body = admin.get(f"{V3}/volumes/summary", headers=LATEST).json()["volume-summary"]
    assert body["total_count"] >= 1 and body["total_size"] >= 2 and "gold" in body["metadata"]["tier"]
    assert admin.get(f"{V3}/volumes/summary").status_code == 404  # needs 3.12


def test_create_volume_from_backup_3_47(admin, vols, cloud):
    vol = vols.create()
    cloud.clients["block-storage"].driver.write(vol["id"], 0, b"from-backup")
    backup_id = admin.post(f"{V3}/backups", json={"backup": {"volume_id": vol["id"]}}).json()["backup"]["id"]
    vols.created.append(("backups", backup_id, admin))
    from .conftest import wait_for

    wait_for(lambda: admin.get(f"{V3}/backups/{backup_id}").json()["backup"]["status"], lambda s: s == "available")
    restored = vols.create(backup_id=backup_id, size=None)
    assert restored["os-vol-host-attr:host"].count("@") == 1 and "#" in restored["os-vol-host-attr:host"]
    assert cloud.clients["block-storage"].driver.read(restored["id"], 0, 11) == b"from-backup"
