"""The compute agent: simulated hosts report to placement; a restart mid-build leaves nothing stuck."""

from __future__ import annotations

import threading
import time

import pytest

from onestack import migrations
from onestack.app import build
from onestack.compute.agent import InstanceReconciler, build_agents
from onestack.core.testing.client import login, make_settings
from onestack.testing import running_cloud
from tests.compute.conftest import C, mv


@pytest.fixture
def fresh(tmp_path):
    """A cloud of its own (own SQLite file): these tests add hosts and restart agents."""
    settings = make_settings(str(tmp_path / "data"), compute={"host": "agt", "fake_hosts": 3})
    with running_cloud(settings) as env:
        yield env


def _reconciler(cloud) -> InstanceReconciler:
    return next(r for a in cloud.agents for r in a.reconcilers.values() if isinstance(r, InstanceReconciler))


def test_register_fake_hosts_reports_providers_with_inventory(fresh):
    cloud, http, passwords = fresh
    admin = login(http, "admin", passwords["admin"], "admin")
    _reconciler(cloud).register_hosts()
    names = sorted(h["hypervisor_hostname"] for h in admin.get(f"{C}/os-hypervisors").json()["hypervisors"])
    assert names == ["agt-0001", "agt-0002", "agt-0003"]
    rps = admin.get("/placement/resource_providers").json()["resource_providers"]
    assert len(rps) == 3
    inv = admin.get(f"/placement/resource_providers/{rps[0]['uuid']}/inventories").json()["inventories"]
    assert inv["VCPU"]["total"] == 64 and inv["VCPU"]["allocation_ratio"] == 16.0 and "MEMORY_MB" in inv


def test_create_servers_spread_over_fake_hosts(fresh):
    cloud, http, passwords = fresh
    admin = login(http, "admin", passwords["admin"], "admin")
    _reconciler(cloud).register_hosts()
    image = _image(admin)
    resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": "spread", "imageRef": image, "flavorRef": "1", "networks": "none", "min_count": 3,
        "max_count": 3}})
    assert resp.status_code == 202, resp.text
    servers = _wait_all(admin, 3)
    assert {s["status"] for s in servers} == {"ACTIVE"}
    assert len({s["OS-EXT-SRV-ATTR:host"] for s in servers}) == 3  # RAM weigher spreads


def _image(admin) -> str:
    resp = admin.post("/image/v2/images", json={"name": "agent-test", "disk_format": "raw",
                                                "container_format": "bare", "visibility": "public"})
    if resp.status_code != 201:
        return "155d900f-4e14-4e4c-a73d-069cbf4541e6"
    admin.put(f"/image/v2/images/{resp.json()['id']}/file", content=b"x",
              headers={"Content-Type": "application/octet-stream"})
    return resp.json()["id"]


def _wait_all(session, count: int, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        servers = session.get(f"{C}/servers/detail", headers=mv()).json()["servers"]
        if len(servers) == count and all(s["status"] in ("ACTIVE", "ERROR") and not s["OS-EXT-STS:task_state"]
                                         for s in servers):
            return servers
        assert time.monotonic() < deadline, sorted({(s["status"], s["OS-EXT-STS:task_state"]) for s in servers})
        time.sleep(0.05)


def test_restart_agents_mid_builds_leaves_every_server_active_or_error(tmp_path):
    settings = make_settings(str(tmp_path / "data"), compute={"host": "rst", "fake_hosts": 2})
    with running_cloud(settings) as (cloud, http, passwords):
        admin = login(http, "admin", passwords["admin"], "admin")
        admin.put(f"{C}/os-quota-sets/{admin.project_id}", json={"quota_set": {"instances": 100, "cores": 100,
                                                                               "ram": -1}})
        image = _image(admin)
        reconciler = _reconciler(cloud)
        agent = next(a for a in cloud.agents if reconciler in a.reconcilers.values())
        lock, spawned = threading.Lock(), [0]

        def held(spawn):
            def spawn_after_the_first_two(guest, network_ready=None):
                with lock:
                    spawned[0] += 1
                    first = spawned[0] <= 2
                if not first:  # the stop lands in the middle of the builds, whatever the machine's load
                    agent._stop.wait(60)
                return spawn(guest, network_ready)
            return spawn_after_the_first_two

        for driver in reconciler.drivers.values():
            driver.spawn = held(driver.spawn)
        resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
            "name": "restart", "imageRef": image, "flavorRef": "c1", "networks": "none", "min_count": 50,
            "max_count": 50}})
        assert resp.status_code == 202, resp.text
        deadline = time.monotonic() + 30
        while not any(s["status"] == "ACTIVE" for s in admin.get(f"{C}/servers/detail", headers=mv()).json()[
                "servers"]):  # the first builds are done: the stop lands in the middle of the rest
            assert time.monotonic() < deadline, "no build finished"
            time.sleep(0.01)
        cloud.stop_agents()  # the "crash": queued and in-flight work is dropped
        building = [s for s in admin.get(f"{C}/servers/detail", headers=mv()).json()["servers"]
                    if s["status"] == "BUILD"]
        assert building, "the restart should interrupt some builds"
        # a new process: same database, fresh agents and drivers
        second = build(settings)
        migrations.upgrade(second.engine)
        second.agents = build_agents(settings, second.uow, second.bus, second.clients)
        # the API keeps publishing on the first bus: the new agents find the work by their resync
        second.start_agents()
        try:
            servers = _wait_all(admin, 50)
            assert {s["status"] for s in servers} == {"ACTIVE"}
        finally:
            second.close()


def test_migrate_and_live_migrate_server_moves_host_and_allocation(fresh):
    cloud, http, passwords = fresh
    admin = login(http, "admin", passwords["admin"], "admin")
    _reconciler(cloud).register_hosts()
    resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": "mover", "imageRef": _image(admin), "flavorRef": "c1", "networks": "none"}})
    server_id = resp.json()["server"]["id"]
    (server,) = _wait_all(admin, 1)
    first = server["OS-EXT-SRV-ATTR:host"]
    assert admin.post(f"{C}/servers/{server_id}/action", json={"migrate": None}, headers=mv()).status_code == 202
    moved = _wait_status(admin, server_id, "VERIFY_RESIZE")
    second = moved["OS-EXT-SRV-ATTR:host"]
    assert second != first
    assert admin.post(f"{C}/servers/{server_id}/action", json={"confirmResize": None}).status_code == 204
    target = next(h for h in ("agt-0001", "agt-0002", "agt-0003") if h not in (first, second))
    resp = admin.post(f"{C}/servers/{server_id}/action", headers=mv("2.30"),
                      json={"os-migrateLive": {"host": target, "block_migration": "auto"}})
    assert resp.status_code == 202, resp.text
    live = _wait_status(admin, server_id, "ACTIVE")
    assert live["OS-EXT-SRV-ATTR:host"] == target
    allocations = admin.get(f"/placement/allocations/{server_id}").json()["allocations"]
    node = next(h["id"] for h in admin.get(f"{C}/os-hypervisors").json()["hypervisors"]
                if h["hypervisor_hostname"] == target)
    assert list(allocations) == [node]
    demo_like = admin.post(f"{C}/servers/{server_id}/action", json={"os-migrateLive": {"host": target}})
    assert demo_like.status_code == 400  # already there


def _wait_status(session, server_id: str, status: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = session.get(f"{C}/servers/{server_id}", headers=mv()).json()["server"]
        if body["status"] == status and not body["OS-EXT-STS:task_state"]:
            return body
        assert time.monotonic() < deadline, (body["status"], body["OS-EXT-STS:task_state"])
        time.sleep(0.05)


def test_revert_resize_after_migrate_moves_server_back(fresh):
    cloud, http, passwords = fresh
    admin = login(http, "admin", passwords["admin"], "admin")
    _reconciler(cloud).register_hosts()
    resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": "back", "imageRef": _image(admin), "flavorRef": "c1", "networks": "none"}})
    server_id = resp.json()["server"]["id"]
    (server,) = _wait_all(admin, 1)
    source = server["OS-EXT-SRV-ATTR:host"]
    assert admin.post(f"{C}/servers/{server_id}/action", json={"migrate": None}, headers=mv()).status_code == 202
    moved = _wait_status(admin, server_id, "VERIFY_RESIZE")
    assert moved["OS-EXT-SRV-ATTR:host"] != source
    assert admin.post(f"{C}/servers/{server_id}/action", json={"revertResize": None}).status_code == 202
    back = _wait_status(admin, server_id, "ACTIVE")
    assert back["OS-EXT-SRV-ATTR:host"] == source
    node = next(h["id"] for h in admin.get(f"{C}/os-hypervisors").json()["hypervisors"]
                if h["hypervisor_hostname"] == source)
    assert list(admin.get(f"/placement/allocations/{server_id}").json()["allocations"]) == [node]
    events = admin.get(f"{C}/servers/{server_id}/os-instance-actions", headers=mv()).json()["instanceActions"]
    assert events[0]["action"] == "revertResize"
    assert admin.post(f"{C}/servers/{server_id}/action", json={"confirmResize": None}).status_code == 409


def test_host_builds_up_to_max_concurrent_builds_guests_at_once(tmp_path):
    """Builds mostly wait (ports, the driver's tools): a host runs max_concurrent_builds of them side by
    side instead of queueing a burst of boots behind a few workers, and never more."""
    # 9 boots (the default instance quota is 10) on a host that builds 6 at once
    settings = make_settings(str(tmp_path / "data"), compute={"host": "mcb", "max_concurrent_builds": 6})
    with running_cloud(settings) as (cloud, http, passwords):
        admin = login(http, "admin", passwords["admin"], "admin")
        reconciler = _reconciler(cloud)
        driver = reconciler.drivers["mcb"]
        lock, running, peak, full = threading.Lock(), [0], [0], threading.Event()
        spawn = driver.spawn

        def counting_spawn(guest, network_ready=None):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
                if running[0] >= 6:
                    full.set()
            try:
                # held until 6 builds are in the driver at once (not a fixed pause whose overlap a loaded
                # machine's scheduling decides); a host that builds fewer at once times out here
                full.wait(60)
                return spawn(guest, network_ready)
            finally:
                with lock:
                    running[0] -= 1

        driver.spawn = counting_spawn
        resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
            "name": "burst", "imageRef": _image(admin), "flavorRef": "1", "networks": "none", "min_count": 9,
            "max_count": 9}})
        assert resp.status_code == 202, resp.text
        assert {s["status"] for s in _wait_all(admin, 9)} == {"ACTIVE"}
        assert peak[0] == 6



def _active_server(fresh, name: str) -> tuple:
    """An admin session of the fresh cloud and an ACTIVE server of its (networkless) boot."""
    _cloud, http, passwords = fresh
    admin = login(http, "admin", passwords["admin"], "admin")
    resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": name, "imageRef": _image(admin), "flavorRef": "1", "networks": "none"}})
    assert resp.status_code == 202, resp.text
    (server,) = _wait_all(admin, 1)
    return admin, server

def test_snapshot_image_takes_the_disk_format_the_driver_wrote(fresh, monkeypatch, tmp_path):
    """createImage registers the image raw before the driver runs; a driver that writes qcow2 (QEMU: a few MB
    instead of the whole virtual disk) has it uploaded as qcow2, which the image service's inspection accepts."""
    import shutil
    import subprocess

    from onestack.compute.drivers.fake import FakeGuestDriver

    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img is not installed")
    disk = tmp_path / "snap.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)

    def snapshot(self, uuid: str, path: str) -> str:
        shutil.copyfile(disk, path)
        return "qcow2"

    monkeypatch.setattr(FakeGuestDriver, "snapshot", snapshot)
    admin, server = _active_server(fresh, "snapper")
    made = admin.post(f"{C}/servers/{server['id']}/action", headers=mv(), json={"createImage": {"name": "snap"}})
    assert made.status_code == 202, made.text
    image_id = made.json()["image_id"]
    deadline = time.monotonic() + 30
    while (image := admin.get(f"/image/v2/images/{image_id}").json())["status"] != "active":
        assert image["status"] in ("queued", "saving") and time.monotonic() < deadline, image
        time.sleep(0.05)
    assert image["disk_format"] == "qcow2" and image["virtual_size"] == 64 << 20


def test_failed_snapshot_deletes_its_image_and_leaves_the_server_as_it_was(fresh, monkeypatch, tmp_path):
    """As Nova: a snapshot the driver cannot take, or whose data the image service refuses (here a qcow2 with a
    backing file), deletes the image it was for; the server stays ACTIVE, the action's event shows the error."""
    import shutil
    import subprocess

    from onestack.compute.drivers.base import GuestDriverError
    from onestack.compute.drivers.fake import FakeGuestDriver

    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img is not installed")
    backed = tmp_path / "backed.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", str(backed)],
                   check=True)
    outcomes = iter(["driver", "refused"])

    def snapshot(self, uuid: str, path: str) -> str:
        if next(outcomes) == "driver":
            raise GuestDriverError("the disk is gone")
        shutil.copyfile(backed, path)
        return "qcow2"

    monkeypatch.setattr(FakeGuestDriver, "snapshot", snapshot)
    admin, server = _active_server(fresh, "snapper")
    for _ in range(2):
        made = admin.post(f"{C}/servers/{server['id']}/action", headers=mv(), json={"createImage": {"name": "s"}})
        assert made.status_code == 202, made.text
        image_id = made.json()["image_id"]
        deadline = time.monotonic() + 30
        while admin.get(f"/image/v2/images/{image_id}").status_code != 404:
            assert time.monotonic() < deadline, admin.get(f"/image/v2/images/{image_id}").json()
            time.sleep(0.05)
        (after,) = _wait_all(admin, 1)
        assert after["status"] == "ACTIVE" and after["OS-EXT-STS:task_state"] is None
    actions = admin.get(f"{C}/servers/{server['id']}/os-instance-actions", headers=mv()).json()["instanceActions"]
    snaps = [a for a in actions if a["action"] == "createImage"]
    assert len(snaps) == 2
    for a in snaps:
        shown = admin.get(f"{C}/servers/{server['id']}/os-instance-actions/{a['request_id']}", headers=mv()).json()
        assert [e["result"] for e in shown["instanceAction"]["events"]] == ["Error"], shown


def test_agent_prunes_its_hosts_image_caches_every_manager_interval(tmp_path, monkeypatch):
    """As Nova's image cache manager: the resync that comes due prunes each host's image cache (drivers with
    one); with image_cache_manager_interval -1 only the admin command does."""
    from onestack.compute.drivers.fake import FakeGuestDriver

    pruned: list[str] = []
    monkeypatch.setattr(FakeGuestDriver, "prune_image_cache", lambda self: pruned.append("x") or ["img"],
                        raising=False)
    for interval, at_least in ((0, 2), (3600, 0), (-1, 0)):  # (the agent's own resync thread prunes too)
        pruned.clear()
        settings = make_settings(str(tmp_path / f"data{interval}"), compute={
            "host": "agt", "image_cache_manager_interval": interval})
        with running_cloud(settings) as (cloud, _http, _passwords):
            reconciler = _reconciler(cloud)
            before = len(pruned)
            list(reconciler.pending_keys())
            list(reconciler.pending_keys())
            assert len(pruned) - before >= at_least and (at_least or not pruned), (interval, pruned)


def test_resize_revert_goes_back_to_the_kept_disk_and_confirm_drops_it(fresh):
    """As Nova: a driver that resizes in place keeps the source disk until the resize is confirmed (the agent
    asks it to drop it, also when another action follows the confirm at once) or reverted (the agent asks
    it to go back to it, under the old flavor), instead of resizing the grown disk again."""
    cloud, http, passwords = fresh
    admin = login(http, "admin", passwords["admin"], "admin")
    reconciler = _reconciler(cloud)
    reconciler.register_hosts()
    calls: list[tuple] = []
    for driver in reconciler.drivers.values():
        driver.resize = lambda uuid, flavor: calls.append(("resize", uuid, flavor.root_gb, flavor.memory_mb))
        driver.revert_resize = lambda uuid, flavor: calls.append(("revert", uuid, flavor.root_gb, flavor.memory_mb))
        driver.confirm_resize = lambda uuid: calls.append(("confirm", uuid))
    resp = admin.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": "grow", "imageRef": _image(admin), "flavorRef": "c1", "networks": "none"}})
    server_id = resp.json()["server"]["id"]
    _wait_all(admin, 1)

    def act(body, status=202):
        assert admin.post(f"{C}/servers/{server_id}/action", json=body, headers=mv()).status_code == status

    act({"resize": {"flavorRef": "2"}})  # m1.small: 2 GB RAM, 20 GB disk
    _wait_status(admin, server_id, "VERIFY_RESIZE")
    act({"revertResize": None})
    back = _wait_status(admin, server_id, "ACTIVE")
    assert back["flavor"]["original_name"] == "c1.tiny"
    assert calls == [("resize", server_id, 20, 2048), ("revert", server_id, 1, 64)]
    calls.clear()
    act({"resize": {"flavorRef": "2"}})
    _wait_status(admin, server_id, "VERIFY_RESIZE")
    act({"confirmResize": None}, 204)
    deadline = time.monotonic() + 15
    while ("confirm", server_id) not in calls:
        assert time.monotonic() < deadline, calls
        time.sleep(0.02)
    events = admin.get(f"{C}/servers/{server_id}/os-instance-actions/{_last_request(admin, server_id)}",
                       headers=mv()).json()["instanceAction"]["events"]
    assert [e["event"] for e in events] == ["compute_confirm_resize"]
    # a confirm the agent has not carried out yet rides along with the next action
    calls.clear()
    cloud.stop_agents()
    act({"resize": {"flavorRef": "3"}})
    try:
        reconciler.reconcile(server_id)
        _wait_status(admin, server_id, "VERIFY_RESIZE")
        act({"confirmResize": None}, 204)
        act({"os-stop": None})
        reconciler.reconcile(server_id)
        assert _wait_status(admin, server_id, "SHUTOFF")
        assert calls == [("resize", server_id, 40, 4096), ("confirm", server_id)]
    finally:
        cloud.start_agents()


def _last_request(session, server_id: str) -> str:
    actions = session.get(f"{C}/servers/{server_id}/os-instance-actions", headers=mv()).json()["instanceActions"]
    return actions[0]["request_id"]
