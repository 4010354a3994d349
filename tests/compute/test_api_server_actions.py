import pytest

from onestack.compute.model import Instance
from tests.compute.conftest import IMAGE, C, boot, mv, wait_server


def _act(session, server_id, body, version="2.100"):
    return session.post(f"{C}/servers/{server_id}/action", json=body, headers=mv(version))


@pytest.fixture
def server(demo, servers, uniq):
    body = boot(demo, uniq("act"))
    servers.append(body["id"])
    return body


def test_stop_start_server_transitions(demo, server):
    assert _act(demo, server["id"], {"os-stop": None}).status_code == 202
    stopped = wait_server(demo, server["id"])
    assert stopped["status"] == "SHUTOFF" and stopped["OS-EXT-STS:power_state"] == 4
    assert _act(demo, server["id"], {"os-stop": None}).status_code == 409
    assert _act(demo, server["id"], {"os-start": None}).status_code == 202
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"


def test_start_active_server_is_409(demo, server):
    resp = _act(demo, server["id"], {"os-start": None})
    assert resp.status_code == 409 and "conflictingRequest" in resp.json()


def test_pause_unpause_suspend_resume_server(demo, server):
    assert _act(demo, server["id"], {"pause": None}).status_code == 202
    paused = wait_server(demo, server["id"])
    assert paused["status"] == "PAUSED" and paused["OS-EXT-STS:power_state"] == 3
    assert _act(demo, server["id"], {"suspend": None}).status_code == 409
    _act(demo, server["id"], {"unpause": None})
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"
    _act(demo, server["id"], {"suspend": None})
    assert wait_server(demo, server["id"])["status"] == "SUSPENDED"
    _act(demo, server["id"], {"resume": None})
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"


def test_reboot_server_soft_and_hard(demo, server):
    assert _act(demo, server["id"], {"reboot": {"type": "SOFT"}}).status_code == 202
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"
    assert _act(demo, server["id"], {"reboot": {"type": "HARD"}}).status_code == 202
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"
    assert _act(demo, server["id"], {"reboot": {"type": "WARM"}}).status_code == 400


def test_lock_server_blocks_member_actions(admin, demo, server):
    assert _act(demo, server["id"], {"lock": {"locked_reason": "maintenance"}}).status_code == 202
    shown = demo.get(f"{C}/servers/{server['id']}", headers=mv()).json()["server"]
    assert shown["locked"] is True and shown["locked_reason"] == "maintenance"
    assert _act(demo, server["id"], {"os-stop": None}).status_code == 409
    assert demo.delete(f"{C}/servers/{server['id']}").status_code == 409
    assert _act(demo, server["id"], {"unlock": None}).status_code == 202


def test_resize_confirm_and_revert_server(demo, server):
    assert _act(demo, server["id"], {"resize": {"flavorRef": "c1"}}).status_code == 400
    assert _act(demo, server["id"], {"resize": {"flavorRef": "42"}}).status_code == 202
    resized = wait_server(demo, server["id"])
    assert resized["status"] == "VERIFY_RESIZE" and resized["flavor"]["original_name"] == "m1.nano"
    assert _act(demo, server["id"], {"confirmResize": None}).status_code == 204
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"
    _act(demo, server["id"], {"resize": {"flavorRef": "1"}})
    assert wait_server(demo, server["id"])["status"] == "VERIFY_RESIZE"
    assert _act(demo, server["id"], {"revertResize": None}).status_code == 202
    reverted = wait_server(demo, server["id"])
    assert reverted["status"] == "ACTIVE" and reverted["flavor"]["original_name"] == "m1.nano"


def test_rebuild_server_keeps_it_active(demo, server):
    resp = _act(demo, server["id"], {"rebuild": {"imageRef": server["image"]["id"], "name": "rebuilt"}})
    assert resp.status_code == 202 and resp.json()["server"]["name"] == "rebuilt"
    assert resp.json()["server"]["image"]["id"] == server["image"]["id"]
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"


def test_rebuild_stopped_server_leaves_it_stopped(demo, server):
    """As Nova (and what ``openstack server rebuild --wait`` waits for): a SHUTOFF server is SHUTOFF again."""
    assert _act(demo, server["id"], {"os-stop": None}).status_code == 202
    assert wait_server(demo, server["id"])["status"] == "SHUTOFF"
    assert _act(demo, server["id"], {"rebuild": {"imageRef": server["image"]["id"]}}).status_code == 202
    rebuilt = wait_server(demo, server["id"])
    assert rebuilt["status"] == "SHUTOFF" and rebuilt["OS-EXT-STS:power_state"] == 4, rebuilt
    assert _act(demo, server["id"], {"os-start": None}).status_code == 202
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"


def test_rebuild_server_shows_new_image_at_once(admin, demo, server, uniq):
    image = admin.post("/image/v2/images", json={"name": uniq("alt"), "disk_format": "raw",
                                                 "container_format": "bare", "visibility": "public"})
    if image.status_code != 201:
        pytest.skip("no image service in this cloud")
    alt = image.json()["id"]
    admin.put(f"/image/v2/images/{alt}/file", content=b"alt", headers={"Content-Type": "application/octet-stream"})
    try:
        resp = _act(demo, server["id"], {"rebuild": {"imageRef": alt}}, version="2.1")
        assert resp.status_code == 202 and resp.json()["server"]["image"]["id"] == alt
        assert wait_server(demo, server["id"])["image"]["id"] == alt
    finally:
        admin.delete(f"/image/v2/images/{alt}")


def test_shelve_unshelve_server(admin, demo, server):
    assert _act(demo, server["id"], {"shelve": None}).status_code == 202
    shelved = wait_server(demo, server["id"])
    assert shelved["status"] == "SHELVED_OFFLOADED"
    assert admin.get(f"/placement/allocations/{server['id']}").json()["allocations"] == {}
    assert _act(demo, server["id"], {"unshelve": None}).status_code == 202
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"
    assert admin.get(f"/placement/allocations/{server['id']}").json()["allocations"]


def test_rescue_unrescue_server(demo, server):
    resp = _act(demo, server["id"], {"rescue": None})
    assert resp.status_code == 200 and resp.json()["adminPass"]
    assert wait_server(demo, server["id"])["status"] == "RESCUE"
    _act(demo, server["id"], {"unrescue": None})
    assert wait_server(demo, server["id"])["status"] == "ACTIVE"


def test_reset_state_server_admin_only(admin, demo, server):
    assert _act(demo, server["id"], {"os-resetState": {"state": "error"}}).status_code == 403
    assert _act(admin, server["id"], {"os-resetState": {"state": "error"}}).status_code == 202
    assert demo.get(f"{C}/servers/{server['id']}").json()["server"]["status"] == "ERROR"
    _act(admin, server["id"], {"os-resetState": {"state": "active"}})


def test_get_console_output_server(demo, server):
    resp = _act(demo, server["id"], {"os-getConsoleOutput": {"length": 2}})
    assert resp.status_code == 200 and len(resp.json()["output"].splitlines()) == 2


def test_create_remote_console_serial(demo, server):
    resp = demo.post(f"{C}/servers/{server['id']}/remote-consoles", headers=mv("2.8"),
                     json={"remote_console": {"protocol": "serial", "type": "serial"}})
    assert resp.status_code == 200 and resp.json()["remote_console"]["url"]


def test_list_instance_actions_with_events(admin, demo, server):
    _act(demo, server["id"], {"os-stop": None})
    wait_server(demo, server["id"])
    actions = demo.get(f"{C}/servers/{server['id']}/os-instance-actions", headers=mv()).json()["instanceActions"]
    assert [a["action"] for a in actions][:2] == ["stop", "create"]
    shown = admin.get(f"{C}/servers/{server['id']}/os-instance-actions/{actions[0]['request_id']}",
                      headers=mv()).json()["instanceAction"]
    assert shown["events"][0]["event"] == "compute_stop_instance" and shown["events"][0]["result"] == "Success"


def test_unknown_action_is_400(demo, server):
    assert _act(demo, server["id"], {"fly": None}).status_code == 400


def test_show_diagnostics_admin(admin, server):
    resp = admin.get(f"{C}/servers/{server['id']}/diagnostics", headers=mv())
    assert resp.status_code == 200 and resp.json()["state"] == "running"


def test_create_image_from_server_snapshot_becomes_active(demo, server, uniq):
    import time

    resp = _act(demo, server["id"], {"createImage": {"name": uniq("snap"), "metadata": {"purpose": "test"}}})
    if resp.status_code == 400 and "not available" in resp.text:
        pytest.skip("no image service in this cloud")
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["image_id"]
    wait_server(demo, server["id"])
    deadline = time.monotonic() + 10
    while demo.get(f"/image/v2/images/{image_id}").json()["status"] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    image = demo.get(f"/image/v2/images/{image_id}").json()
    assert image["instance_uuid"] == server["id"] and image["purpose"] == "test"
    demo.delete(f"/image/v2/images/{image_id}")


def test_migrate_server_as_member_is_403(demo, server):
    assert _act(demo, server["id"], {"migrate": None}).status_code == 403


def test_migrate_server_single_host_keeps_it_active(admin, demo, server):
    assert _act(admin, server["id"], {"migrate": None}).status_code == 202
    after = wait_server(demo, server["id"])
    assert after["status"] == "ACTIVE"
    actions = demo.get(f"{C}/servers/{server['id']}/os-instance-actions", headers=mv()).json()["instanceActions"]
    assert actions[0]["action"] == "migrate"


def test_create_rebuild_and_resize_check_the_image_against_the_flavor(admin, demo, servers, uniq):
    """As Nova, before anything is built: the image's min_ram and min_disk must fit the flavor (400 with Nova's
    messages, no server made); a zero-disk flavor takes any disk size; rebuild and resize check the same."""
    made = admin.post("/image/v2/images", json={"name": uniq("needy"), "disk_format": "raw", "min_ram": 256,
                                                "min_disk": 2, "container_format": "bare", "visibility": "public"})
    if made.status_code != 201:
        pytest.skip("no image service in this cloud")
    needy = made.json()["id"]
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    zero = None
    try:
        name = uniq("fit")
        body = {"server": {"name": name, "imageRef": needy, "flavorRef": "42", "networks": "none"}}
        resp = demo.post(f"{C}/servers", json=body, headers=mv())
        assert resp.status_code == 400 and "not active" in resp.json()["badRequest"]["message"]  # no data yet
        admin.put(f"/image/v2/images/{needy}/file", content=b"disk",
                  headers={"Content-Type": "application/octet-stream"})
        resp = demo.post(f"{C}/servers", json=body, headers=mv())  # m1.nano: 128 MB, 1 GB
        assert resp.status_code == 400, resp.text
        assert resp.json()["badRequest"]["message"] == "Flavor's memory is too small for requested image."
        assert admin.patch(f"/image/v2/images/{needy}", json=[{"op": "replace", "path": "/min_ram", "value": 128}],
                           headers=patch).status_code == 200
        resp = demo.post(f"{C}/servers", json=body, headers=mv())
        assert resp.status_code == 400 and resp.json()["badRequest"]["message"] == (
            "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is "
            f"{1 << 30} bytes, minimum size is {2 << 30} bytes.")
        assert not demo.get(f"{C}/servers", params={"name": name}).json()["servers"]  # nothing was made

        # a zero-disk flavor (image-backed: admin only) takes it ...
        zero = admin.post(f"{C}/flavors", json={"flavor": {"name": uniq("zd"), "ram": 64, "vcpus": 1, "disk": 0}})
        assert zero.status_code == 200, zero.text
        server = boot(admin, uniq("zero"), flavor=zero.json()["flavor"]["id"])
        servers.append(server["id"])
        assert server["status"] == "ACTIVE"
        resp = _act(admin, server["id"], {"rebuild": {"imageRef": needy}})  # ... but not its 64 MB of RAM
        assert resp.status_code == 400
        assert resp.json()["badRequest"]["message"] == "Flavor's memory is too small for requested image."
        assert admin.patch(f"/image/v2/images/{needy}", json=[{"op": "replace", "path": "/min_ram", "value": 0}],
                           headers=patch).status_code == 200
        assert _act(admin, server["id"], {"rebuild": {"imageRef": needy}}).status_code == 202
        assert wait_server(admin, server["id"])["status"] == "ACTIVE"
        resp = _act(admin, server["id"], {"resize": {"flavorRef": "42"}})  # the image needs 2 GB, m1.nano has 1
        assert resp.status_code == 400 and "minimum size is" in resp.json()["badRequest"]["message"]
        assert wait_server(admin, server["id"])["status"] == "ACTIVE"
    finally:
        admin.delete(f"/image/v2/images/{needy}")
        if zero is not None:
            admin.delete(f"{C}/flavors/{zero.json()['flavor']['id']}")


def test_zero_disk_flavor_is_for_volume_backed_servers_unless_admin(admin, demo, servers, uniq, cloud):
    """Nova's os_compute_api:servers:create:zero_disk_flavor (admin only by default): a member's image-backed
    server on a flavor without a root disk is a 403 with Nova's message, create and rebuild alike; an admin's
    is built; the bootstrap flavors all have a disk, so the demo flow works as a member."""
    assert all(f["disk"] > 0 for f in admin.get(f"{C}/flavors/detail").json()["flavors"] if f["id"] in ("c1", "42"))
    made = admin.post(f"{C}/flavors", json={"flavor": {"name": uniq("zd"), "ram": 64, "vcpus": 1, "disk": 0}})
    zero = made.json()["flavor"]["id"]
    try:
        name = uniq("zero")
        resp = demo.post(f"{C}/servers", headers=mv(), json={"server": {
            "name": name, "imageRef": IMAGE[0], "flavorRef": zero, "networks": "none"}})
        assert resp.status_code == 403, resp.text
        assert resp.json() == {"forbidden": {"code": 403, "message": "Only volume-backed servers are allowed for "
                                                                      "flavors with zero disk."}}
        assert not demo.get(f"{C}/servers", params={"name": name}).json()["servers"]  # nothing was made
        server = boot(admin, uniq("zero"), flavor=zero)  # the admin passes the rule
        servers.append(server["id"])
        assert server["status"] == "ACTIVE"
        own = boot(demo, uniq("own"))  # c1.tiny: a disk, so no rule to pass
        servers.append(own["id"])
        assert own["status"] == "ACTIVE" and own["flavor"]["disk"] > 0
        # rebuild checks the same rule: a member's server whose flavor has no disk (as one made before the rule)
        with cloud.uow(write=True) as uow:
            row = uow.session.get(Instance, own["id"])
            row.flavor = {**row.flavor, "disk": 0}
        resp = _act(demo, own["id"], {"rebuild": {"imageRef": IMAGE[0]}})
        assert resp.status_code == 403 and "zero disk" in resp.json()["forbidden"]["message"], resp.text
        assert _act(admin, server["id"], {"rebuild": {"imageRef": IMAGE[0]}}).status_code == 202
        assert wait_server(admin, server["id"])["status"] == "ACTIVE"
    finally:
        admin.delete(f"{C}/flavors/{zero}")
