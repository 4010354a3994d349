"""Hypervisors, services, aggregates (with availability zones), server groups, usage."""

import time

from tests.compute.conftest import C, boot, mv, wait_server


def test_list_hypervisors_detail_and_statistics(admin):
    hvs = admin.get(f"{C}/os-hypervisors/detail", headers=mv("2.87")).json()["hypervisors"]
    assert hvs and hvs[0]["hypervisor_type"] == "fake" and hvs[0]["state"] == "up" and hvs[0]["vcpus"] == 64
    stats = admin.get(f"{C}/os-hypervisors/statistics", headers=mv("2.87")).json()["hypervisor_statistics"]
    assert stats["count"] == len(hvs)
    shown = admin.get(f"{C}/os-hypervisors/{hvs[0]['id']}", headers=mv("2.88")).json()["hypervisor"]
    assert "vcpus" not in shown and shown["service"]["host"]
    assert admin.get(f"{C}/os-hypervisors/statistics", headers=mv("2.88")).status_code == 404


def test_list_hypervisors_as_member_is_403(demo):
    assert demo.get(f"{C}/os-hypervisors").status_code == 403


def test_update_service_disable_excludes_host_from_scheduling(admin, demo, servers, uniq):
    services = admin.get(f"{C}/os-services?binary=nova-compute", headers=mv()).json()["services"]
    assert services and services[0]["state"] == "up" and services[0]["zone"] == "nova"
    sid = services[0]["id"]
    resp = admin.put(f"{C}/os-services/{sid}", json={"status": "disabled", "disabled_reason": "maint"},
                     headers=mv())
    assert resp.status_code == 200 and resp.json()["service"]["status"] == "disabled"
    try:
        server = boot(demo, uniq("nohost"))
        servers.append(server["id"])
        assert server["status"] == "ERROR" and "No valid host" in server["fault"]["message"]
    finally:
        admin.put(f"{C}/os-services/{sid}", json={"status": "enabled"}, headers=mv())


def test_create_aggregate_with_zone_moves_host_zone(admin, demo, servers, uniq):
    name = uniq("agg")
    agg = admin.post(f"{C}/os-aggregates", json={"aggregate": {"name": name, "availability_zone": name}},
                     headers=mv()).json()["aggregate"]
    host = admin.get(f"{C}/os-services?binary=nova-compute").json()["services"][0]["host"]
    # a host still running servers of the default zone may not move (409): the servers earlier tests
    # deleted are gone first (deletes finish in the agent, after the tests that made them)
    deadline, on_host = time.monotonic() + 60, None
    while on_host != []:
        assert time.monotonic() < deadline, f"servers left on {host}: {on_host}"
        if on_host is not None:
            time.sleep(0.05)
        on_host = [(s["name"], s["status"], s["OS-EXT-STS:task_state"]) for s in admin.get(
            f"{C}/servers/detail", params={"all_tenants": "1", "host": host}, headers=mv()).json()["servers"]]
    try:
        resp = admin.post(f"{C}/os-aggregates/{agg['id']}/action", json={"add_host": {"host": host}}, headers=mv())
        assert resp.status_code == 200 and resp.json()["aggregate"]["hosts"] == [host], resp.text
        zones = {z["zoneName"] for z in demo.get(f"{C}/os-availability-zone").json()["availabilityZoneInfo"]}
        assert name in zones
        server = boot(demo, uniq("inzone"), availability_zone=name)
        servers.append(server["id"])
        assert server["status"] == "ACTIVE" and server["OS-EXT-AZ:availability_zone"] == name
        node = admin.get(f"{C}/os-hypervisors", headers=mv()).json()["hypervisors"][0]["id"]
        assert agg["uuid"] in admin.get(f"/placement/resource_providers/{node}/aggregates",
                                        headers={"OpenStack-API-Version": "placement 1.19"}).json()["aggregates"]
        meta = admin.post(f"{C}/os-aggregates/{agg['id']}/action", json={"set_metadata": {"metadata": {"ssd": "1"}}})
        assert meta.json()["aggregate"]["metadata"]["ssd"] == "1"
        assert admin.delete(f"{C}/os-aggregates/{agg['id']}").status_code == 400
        again = admin.post(f"{C}/os-aggregates/{agg['id']}/action", json={"add_host": {"host": host}})
        assert again.status_code == 409
    finally:
        for s in servers:
            demo.delete(f"{C}/servers/{s}")
        admin.post(f"{C}/os-aggregates/{agg['id']}/action", json={"remove_host": {"host": host}})
        assert admin.delete(f"{C}/os-aggregates/{agg['id']}").status_code == 200


def test_add_host_unknown_host_to_aggregate_is_404(admin, uniq):
    agg = admin.post(f"{C}/os-aggregates", json={"aggregate": {"name": uniq("agg")}}).json()["aggregate"]
    assert admin.post(f"{C}/os-aggregates/{agg['id']}/action",
                      json={"add_host": {"host": "nope"}}).status_code == 404
    admin.delete(f"{C}/os-aggregates/{agg['id']}")


def test_create_aggregate_duplicate_name_is_409(admin, uniq):
    name = uniq("agg")
    agg = admin.post(f"{C}/os-aggregates", json={"aggregate": {"name": name}}).json()["aggregate"]
    assert admin.post(f"{C}/os-aggregates", json={"aggregate": {"name": name}}).status_code == 409
    admin.delete(f"{C}/os-aggregates/{agg['id']}")


def test_create_server_group_anti_affinity_enforced(demo, servers, uniq):
    resp = demo.post(f"{C}/os-server-groups", json={"server_group": {"name": uniq("g"), "policy": "anti-affinity"}},
                     headers=mv("2.64"))
    assert resp.status_code == 200
    group = resp.json()["server_group"]
    assert group["policy"] == "anti-affinity" and group["members"] == []
    hints = {"group": group["id"]}
    first = demo.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": uniq("g1"), "imageRef": boot.__globals__["IMAGE"][0], "flavorRef": "c1", "networks": "none"},
        "os:scheduler_hints": hints}).json()["server"]
    servers.append(first["id"])
    assert wait_server(demo, first["id"])["status"] == "ACTIVE"
    second = demo.post(f"{C}/servers", headers=mv(), json={"server": {
        "name": uniq("g2"), "imageRef": boot.__globals__["IMAGE"][0], "flavorRef": "c1", "networks": "none"},
        "os:scheduler_hints": hints}).json()["server"]
    servers.append(second["id"])
    failed = wait_server(demo, second["id"])
    assert failed["status"] == "ERROR" and "No valid host" in failed["fault"]["message"]
    shown = demo.get(f"{C}/os-server-groups/{group['id']}", headers=mv("2.64")).json()["server_group"]
    assert first["id"] in shown["members"]
    old = demo.get(f"{C}/os-server-groups", headers=mv("2.1")).json()["server_groups"]
    assert any(g["policies"] == ["anti-affinity"] for g in old)
    assert demo.get(f"{C}/servers/{first['id']}", headers=mv("2.71")).json()["server"]["server_groups"] == [
        group["id"]]


def test_create_server_group_bad_policy_is_400(demo, uniq):
    resp = demo.post(f"{C}/os-server-groups", json={"server_group": {"name": uniq("g"), "policy": "nearby"}},
                     headers=mv("2.64"))
    assert resp.status_code == 400


def test_show_simple_tenant_usage(demo, servers, uniq):
    servers.append(boot(demo, uniq("use"))["id"])
    usage = demo.get(f"{C}/os-simple-tenant-usage/{demo.project_id}", headers=mv()).json()["tenant_usage"]
    assert usage["tenant_id"] == demo.project_id and usage["server_usages"]
