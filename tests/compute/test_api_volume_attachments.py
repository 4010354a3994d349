"""os-volume_attachments and boot from volume, on the fake guest driver with the session cloud's real
volume service: attachment documents per microversion, states on both sides, 4xx as Nova."""

from __future__ import annotations

import time

import pytest

from .conftest import IMAGE, C, boot, mv, wait_server

V3 = "/volume/v3"
VOL = {"OpenStack-API-Version": "volume 3.71"}


def poll(fetch, predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"condition not met; last value: {value}"
        time.sleep(0.02)


def volume(session, volume_id):
    resp = session.get(f"{V3}/volumes/{volume_id}", headers=VOL)
    return resp.json()["volume"] if resp.status_code == 200 else None


def wait_volume(session, volume_id, status):
    return poll(lambda: volume(session, volume_id), lambda v: (v is None and status is None) or
                (v is not None and v["status"] == status))


@pytest.fixture
def volumes(demo, admin):
    created: list[str] = []

    def create(size: int = 1, **fields) -> dict:
        resp = demo.post(f"{V3}/volumes", json={"volume": {"size": size, **fields}}, headers=VOL)
        assert resp.status_code == 202, resp.text
        created.append(resp.json()["volume"]["id"])
        return wait_volume(demo, created[-1], "available")

    yield create
    for volume_id in created:
        admin.post(f"{V3}/volumes/{volume_id}/action", json={"os-reset_status": {
            "status": "available", "attach_status": "detached"}})
        admin.delete(f"{V3}/volumes/{volume_id}?cascade=true")


def attach(session, server_id, volume_id, version="2.100", **extra):
    return session.post(f"{C}/servers/{server_id}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": volume_id, **extra}}, headers=mv(version))


def test_attach_list_show_detach_volume(demo, servers, volumes, uniq):
    server = boot(demo, uniq("att"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    vol = volumes()
    resp = attach(demo, server["id"], vol["id"], tag="data", delete_on_termination=False)
    assert resp.status_code == 200, resp.text
    doc = resp.json()["volumeAttachment"]
    assert doc == {"id": vol["id"], "serverId": server["id"], "volumeId": vol["id"], "device": "/dev/vdb",
                   "tag": "data", "delete_on_termination": False}
    shown = wait_volume(demo, vol["id"], "in-use")
    assert shown["attachments"][0]["server_id"] == server["id"]
    assert shown["attachments"][0]["device"] == "/dev/vdb"
    listed = demo.get(f"{C}/servers/{server['id']}/os-volume_attachments", headers=mv()).json()
    (item,) = listed["volumeAttachments"]
    assert "id" not in item and item["volumeId"] == vol["id"] and item["bdm_uuid"] and item["attachment_id"]
    assert item["tag"] == "data" and item["delete_on_termination"] is False
    old = demo.get(f"{C}/servers/{server['id']}/os-volume_attachments/{vol['id']}", headers=mv("2.1")).json()
    assert old["volumeAttachment"] == {"id": vol["id"], "volumeId": vol["id"], "serverId": server["id"],
                                       "device": "/dev/vdb"}
    body = demo.get(f"{C}/servers/{server['id']}", headers=mv()).json()["server"]
    assert body["os-extended-volumes:volumes_attached"] == [{"id": vol["id"], "delete_on_termination": False}]
    assert demo.get(f"{C}/servers/{server['id']}", headers=mv("2.1")).json()["server"][
        "os-extended-volumes:volumes_attached"] == [{"id": vol["id"]}]
    # in use: the volume cannot be deleted, nor attached again
    assert demo.delete(f"{V3}/volumes/{vol['id']}").status_code == 400
    assert attach(demo, server["id"], vol["id"]).status_code == 400
    resp = demo.delete(f"{C}/servers/{server['id']}/os-volume_attachments/{vol['id']}", headers=mv())
    assert resp.status_code == 202, resp.text
    wait_volume(demo, vol["id"], "available")
    poll(lambda: demo.get(f"{C}/servers/{server['id']}/os-volume_attachments").json()["volumeAttachments"],
         lambda items: items == [])
    actions = [a["action"] for a in demo.get(f"{C}/servers/{server['id']}/os-instance-actions").json()[
        "instanceActions"]]
    assert "attach_volume" in actions and "detach_volume" in actions


def test_attach_refusals(demo, admin, servers, volumes, uniq):
    server = boot(demo, uniq("att"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    missing = "6d9c3c5e-0d5e-4c8e-9c1b-6d6f0a1d2e3f"
    assert attach(demo, server["id"], missing).status_code == 404
    assert attach(demo, server["id"], "not-a-uuid").status_code == 400
    vol = volumes()
    assert attach(demo, server["id"], vol["id"], device="/dev/vda").status_code == 409  # the root disk
    assert attach(demo, server["id"], vol["id"], version="2.48", tag="x").status_code == 400  # tag from 2.49
    resp = demo.post(f"{C}/servers/{server['id']}/action", json={"lock": None}, headers=mv())
    assert resp.status_code == 202
    resp = attach(demo, server["id"], vol["id"])
    assert resp.status_code == 409 and "locked" in resp.json()["conflictingRequest"]["message"]
    admin.post(f"{C}/servers/{server['id']}/action", json={"unlock": None}, headers=mv())
    demo.post(f"{C}/servers/{server['id']}/action", json={"unlock": None}, headers=mv())
    assert volume(demo, vol["id"])["status"] == "available"  # nothing left reserved by the refusals
    resp = demo.delete(f"{C}/servers/{server['id']}/os-volume_attachments/{vol['id']}")
    assert resp.status_code == 404


def test_update_delete_on_termination_and_delete_server_deletes_volume(demo, servers, volumes, uniq):
    server = boot(demo, uniq("dot"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    vol = volumes()
    assert attach(demo, server["id"], vol["id"]).status_code == 200
    wait_volume(demo, vol["id"], "in-use")
    url = f"{C}/servers/{server['id']}/os-volume_attachments/{vol['id']}"
    resp = demo.put(url, json={"volumeAttachment": {"volumeId": vol["id"], "delete_on_termination": True}},
                    headers=mv("2.85"))
    assert resp.status_code == 202, resp.text
    assert demo.get(url, headers=mv()).json()["volumeAttachment"]["delete_on_termination"] is True
    resp = demo.put(url, json={"volumeAttachment": {"volumeId": vol["id"], "device": "/dev/vdz"}},
                    headers=mv("2.85"))
    assert resp.status_code == 400
    resp = demo.put(url, json={"volumeAttachment": {"volumeId": vol["id"], "delete_on_termination": True}},
                    headers=mv("2.84"))
    assert resp.status_code == 400  # before 2.85 only a swap (volumeId) may be sent
    assert demo.delete(f"{C}/servers/{server['id']}").status_code == 204
    wait_volume(demo, vol["id"], None)


def test_delete_server_detaches_kept_volume(demo, servers, volumes, uniq):
    server = boot(demo, uniq("keep"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    vol = volumes()
    assert attach(demo, server["id"], vol["id"]).status_code == 200
    wait_volume(demo, vol["id"], "in-use")
    assert demo.delete(f"{C}/servers/{server['id']}").status_code == 204
    wait_volume(demo, vol["id"], "available")


def test_failed_attach_releases_volume(demo, servers, volumes, uniq):
    server = boot(demo, uniq("fail"), wait=False, metadata={"fake_fail": "attach_volume"})
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    vol = volumes()
    assert attach(demo, server["id"], vol["id"]).status_code == 200
    wait_volume(demo, vol["id"], "available")
    poll(lambda: demo.get(f"{C}/servers/{server['id']}/os-volume_attachments").json()["volumeAttachments"],
         lambda items: items == [])
    assert wait_server(demo, server["id"], timeout=60)["status"] == "ACTIVE"


def test_attach_to_stopped_server_survives_start(demo, servers, volumes, uniq, cloud):
    server = boot(demo, uniq("stop"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    demo.post(f"{C}/servers/{server['id']}/action", json={"os-stop": None})
    wait_server(demo, server["id"], ("SHUTOFF",), timeout=60)
    vol = volumes()
    assert attach(demo, server["id"], vol["id"]).status_code == 200
    wait_volume(demo, vol["id"], "in-use")
    demo.post(f"{C}/servers/{server['id']}/action", json={"os-start": None})
    assert wait_server(demo, server["id"], ("ACTIVE",), timeout=60)["status"] == "ACTIVE"
    driver = next(d for a in cloud.agents for r in a.reconcilers.values() if hasattr(r, "drivers")
                  for d in r.drivers.values() if server["id"] in d.list_guests())
    assert driver.volumes(server["id"]) == [vol["id"]]


# -- boot from volume ----------------------------------------------------------------------------------


def test_boot_from_existing_volume_and_delete_keeps_it(demo, servers, volumes, uniq):
    vol = volumes()
    bdm = [{"uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": 0}]
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("bfv"), "flavorRef": "c1", "networks": "none",
                                                      "block_device_mapping_v2": bdm}}, headers=mv())
    assert resp.status_code == 202, resp.text
    server_id = resp.json()["server"]["id"]
    assert volume(demo, vol["id"])["status"] in ("reserved", "attaching", "in-use")  # reserved at the API
    body = wait_server(demo, server_id, timeout=60)
    assert body["status"] == "ACTIVE" and body["image"] == ""
    assert body["os-extended-volumes:volumes_attached"] == [{"id": vol["id"], "delete_on_termination": False}]
    shown = wait_volume(demo, vol["id"], "in-use")
    assert shown["attachments"][0]["device"] == "/dev/vda"
    resp = demo.delete(f"{C}/servers/{server_id}/os-volume_attachments/{vol['id']}")
    assert resp.status_code == 400  # the root volume
    # a second server cannot take the volume
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("bfv2"), "flavorRef": "c1", "networks": "none",
                                                      "block_device_mapping_v2": bdm}}, headers=mv())
    assert resp.status_code == 400
    assert demo.delete(f"{C}/servers/{server_id}").status_code == 204
    wait_volume(demo, vol["id"], "available")


def test_boot_from_image_volume_and_blank_volume_deleted_on_termination(demo, servers, uniq):
    bdm = [{"uuid": IMAGE[0], "source_type": "image", "destination_type": "volume", "boot_index": 0,
            "volume_size": 1, "delete_on_termination": True},
           {"source_type": "blank", "destination_type": "volume", "volume_size": 1, "delete_on_termination": True}]
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("bfi"), "flavorRef": "c1", "networks": "none",
                                                      "block_device_mapping_v2": bdm}}, headers=mv())
    assert resp.status_code == 202, resp.text
    server_id = resp.json()["server"]["id"]
    body = wait_server(demo, server_id, timeout=60)
    assert body["status"] == "ACTIVE", body.get("fault")
    attached = [v["id"] for v in body["os-extended-volumes:volumes_attached"]]
    assert len(attached) == 2
    docs = [volume(demo, v) for v in attached]
    assert sorted(d["attachments"][0]["device"] for d in docs) == ["/dev/vda", "/dev/vdb"]
    root = next(d for d in docs if d["attachments"][0]["device"] == "/dev/vda")
    assert root["bootable"] == "true" and root["status"] == "in-use"
    assert demo.delete(f"{C}/servers/{server_id}").status_code == 204
    for volume_id in attached:
        wait_volume(demo, volume_id, None)


def test_boot_from_volume_failure_releases_everything(demo, servers, volumes, uniq):
    vol = volumes()
    bdm = [{"source_type": "blank", "destination_type": "volume", "volume_size": 1, "delete_on_termination": True},
           {"uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": 0}]
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("bff"), "flavorRef": "c1", "networks": "none",
                                                      "metadata": {"fake_fail": "spawn"},
                                                      "block_device_mapping_v2": bdm}}, headers=mv())
    assert resp.status_code == 202, resp.text
    server_id = resp.json()["server"]["id"]
    servers.append(server_id)
    body = wait_server(demo, server_id, timeout=60)
    assert body["status"] == "ERROR" and body["fault"]["message"]
    assert body["os-extended-volumes:volumes_attached"] == []
    wait_volume(demo, vol["id"], "available")
    names = [v["name"] for v in demo.get(f"{V3}/volumes").json()["volumes"]]
    assert not any(n and n.startswith(body["name"]) for n in names)  # the blank one was deleted


@pytest.mark.parametrize("bdm, message", [
    ([{"source_type": "image", "destination_type": "volume", "boot_index": 0, "uuid": IMAGE[0]}], "non-zero size"),
    ([{"source_type": "volume", "destination_type": "volume", "boot_index": 0,
       "uuid": "6d9c3c5e-0d5e-4c8e-9c1b-6d6f0a1d2e3f"}], "failed to get volume"),
    ([{"source_type": "blank", "destination_type": "volume", "boot_index": 1, "volume_size": 1}], "Boot sequence"),
])
def test_boot_mapping_refusals(demo, uniq, bdm, message):
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("bad"), "flavorRef": "c1", "networks": "none",
                                                      "block_device_mapping_v2": bdm}}, headers=mv())
    assert resp.status_code == 400 and message in resp.text, resp.text


def test_boot_with_volume_refuses_many_servers(demo, volumes, uniq):
    vol = volumes()
    bdm = [{"uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": 0}]
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("many"), "flavorRef": "c1", "networks": "none",
                                                      "min_count": 2, "block_device_mapping_v2": bdm}},
                     headers=mv())
    assert resp.status_code == 400
    assert volume(demo, vol["id"])["status"] == "available"


def test_device_name_is_free_again_once_the_volume_is_available(demo, servers, volumes, uniq):
    server = boot(demo, uniq("dev"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    first, second = volumes(), volumes()
    for vol in (first, second):
        resp = attach(demo, server["id"], vol["id"])
        assert resp.status_code == 200 and resp.json()["volumeAttachment"]["device"] == "/dev/vdb", resp.text
        wait_volume(demo, vol["id"], "in-use")
        resp = demo.delete(f"{C}/servers/{server['id']}/os-volume_attachments/{vol['id']}")
        assert resp.status_code == 202, resp.text  # no 400 for a mapping still "attaching"
        wait_volume(demo, vol["id"], "available")


def test_swap_volume_moves_the_data_and_the_states(demo, admin, servers, volumes, uniq, cloud):
    server = boot(demo, uniq("swap"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    old, new = volumes(), volumes(size=2)
    backend = cloud.clients["block-storage"].driver
    backend.write(old["id"], 4 << 20, b"data-before-the-swap")
    assert attach(demo, server["id"], old["id"], tag="t1").status_code == 200
    wait_volume(demo, old["id"], "in-use")
    url = f"{C}/servers/{server['id']}/os-volume_attachments/{old['id']}"
    body = {"volumeAttachment": {"volumeId": new["id"]}}
    assert demo.put(url, json=body, headers=mv()).status_code == 403  # admin only, as Nova's default
    small = volumes()
    resp = admin.put(f"{C}/servers/{server['id']}/os-volume_attachments/{new['id']}", json={
        "volumeAttachment": {"volumeId": small["id"]}}, headers=mv())
    assert resp.status_code == 404  # new is not attached to the server
    resp = admin.put(url, json=body, headers=mv())
    assert resp.status_code == 202, resp.text
    wait_volume(demo, old["id"], "available")
    shown = wait_volume(demo, new["id"], "in-use")
    assert shown["attachments"][0]["device"] == "/dev/vdb"
    assert backend.read(new["id"], 4 << 20, 20) == b"data-before-the-swap"
    (item,) = demo.get(f"{C}/servers/{server['id']}/os-volume_attachments", headers=mv()).json()["volumeAttachments"]
    assert item["volumeId"] == new["id"] and item["device"] == "/dev/vdb" and item["tag"] == "t1"
    resp = admin.put(f"{C}/servers/{server['id']}/os-volume_attachments/{new['id']}", json={
        "volumeAttachment": {"volumeId": small["id"]}}, headers=mv())
    assert resp.status_code == 400  # smaller than the attached volume
    assert volume(demo, small["id"])["status"] == "available"


def test_attach_to_shelved_offloaded_server_then_unshelve(demo, servers, volumes, uniq, cloud):
    server = boot(demo, uniq("shelf"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    demo.post(f"{C}/servers/{server['id']}/action", json={"shelve": None})
    wait_server(demo, server["id"], ("SHELVED_OFFLOADED",), timeout=60)
    vol = volumes()
    assert attach(demo, server["id"], vol["id"]).status_code == 200
    assert volume(demo, vol["id"])["status"] == "in-use"  # no host to connect: bookkeeping only
    demo.post(f"{C}/servers/{server['id']}/action", json={"unshelve": None})
    assert wait_server(demo, server["id"], ("ACTIVE",), timeout=60)["status"] == "ACTIVE"
    driver = next(d for a in cloud.agents for r in a.reconcilers.values() if hasattr(r, "drivers")
                  for d in r.drivers.values() if server["id"] in d.list_guests())
    assert driver.volumes(server["id"]) == [vol["id"]]
    resp = demo.delete(f"{C}/servers/{server['id']}/os-volume_attachments/{vol['id']}")
    assert resp.status_code == 202, resp.text
    wait_volume(demo, vol["id"], "available")


def test_online_extend_reaches_the_guest_driver(demo, servers, volumes, uniq, cloud):
    server = boot(demo, uniq("ext"), wait=False)
    server = wait_server(demo, server["id"], timeout=60)
    servers.append(server["id"])
    vol = volumes()
    assert attach(demo, server["id"], vol["id"]).status_code == 200
    wait_volume(demo, vol["id"], "in-use")
    resp = demo.post(f"{V3}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 2}}, headers=VOL)
    assert resp.status_code == 202, resp.text
    shown = poll(lambda: volume(demo, vol["id"]), lambda v: v["size"] == 2)
    assert shown["status"] == "in-use"
    driver = next(d for a in cloud.agents for r in a.reconcilers.values() if hasattr(r, "drivers")
                  for d in r.drivers.values() if server["id"] in d.list_guests())
    poll(lambda: driver.extended, lambda calls: (server["id"], vol["id"], 2 << 30) in calls)
    action = poll(lambda: [a for a in demo.get(f"{C}/servers/{server['id']}/os-instance-actions").json()[
        "instanceActions"] if a["action"] == "extend_volume"], lambda found: found)[0]
    events = demo.get(f"{C}/servers/{server['id']}/os-instance-actions/{action['request_id']}",
                      headers=mv("2.51")).json()["instanceAction"]["events"]
    assert [e["event"] for e in events] == ["compute_extend_volume"]
    assert events[0]["result"] == "Success"
