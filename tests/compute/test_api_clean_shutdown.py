"""Stop and shelve shut the guest down cleanly first, for [compute] shutdown_timeout seconds or the image's
os_shutdown_timeout (as Nova); the fake driver records what it was asked."""

from __future__ import annotations

import pytest

from .conftest import C, boot, wait_server


def driver_of(cloud, server_id):
    return next(d for a in cloud.agents for r in a.reconcilers.values() if hasattr(r, "drivers")
                for d in r.drivers.values() if server_id in d.list_guests())


def act(session, server_id, body, status="SHUTOFF"):
    assert session.post(f"{C}/servers/{server_id}/action", json=body).status_code == 202
    assert wait_server(session, server_id)["status"] == status


def test_stop_and_shelve_are_clean_shutdowns_with_the_configured_timeout(demo, servers, cloud, uniq):
    assert cloud.settings.compute.shutdown_timeout == 60
    server = boot(demo, uniq("stop"))
    servers.append(server["id"])
    driver = driver_of(cloud, server["id"])
    act(demo, server["id"], {"os-stop": None})
    assert (server["id"], 60.0) in driver.power_offs
    act(demo, server["id"], {"os-start": None}, "ACTIVE")
    calls = len([c for c in driver.power_offs if c[0] == server["id"]])
    act(demo, server["id"], {"shelve": None}, "SHELVED_OFFLOADED")
    assert [c for c in driver.power_offs if c[0] == server["id"]][calls:] == [(server["id"], 60.0)]


def test_stop_waits_the_image_os_shutdown_timeout(demo, admin, servers, cloud, uniq):
    resp = admin.post("/image/v2/images", json={"name": uniq("slow"), "disk_format": "raw", "container_format": "bare",
                                                "visibility": "public", "os_shutdown_timeout": "7"})
    if resp.status_code != 201:
        pytest.skip("no image service in this cloud")
    image_id = resp.json()["id"]
    try:
        assert admin.put(f"/image/v2/images/{image_id}/file", content=b"disk",
                         headers={"Content-Type": "application/octet-stream"}).status_code == 204
        server = boot(demo, uniq("slow"), imageRef=image_id)
        servers.append(server["id"])
        act(demo, server["id"], {"os-stop": None})
        assert (server["id"], 7.0) in driver_of(cloud, server["id"]).power_offs
    finally:
        admin.delete(f"/image/v2/images/{image_id}")
