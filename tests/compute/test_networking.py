"""Servers on networks through the network client: ports are created at build and freed at delete."""

import pytest

from tests.compute.conftest import IMAGE, C, boot, mv, wait_gone
from tests.compute.e2e.support import wait_for


def test_create_server_on_network_gets_port_and_addresses(demo, uniq):
    net = demo.post("/network/v2.0/networks", json={"network": {"name": uniq("net")}})
    if net.status_code == 404:
        pytest.skip("no network service in this cloud")
    net_id = net.json()["network"]["id"]
    subnet = demo.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "cidr": "10.77.0.0/24", "ip_version": 4, "name": uniq("sub")}})
    assert subnet.status_code == 201, subnet.text
    server = boot(demo, uniq("netsrv"), networks=[{"uuid": net_id}])
    try:
        assert server["status"] == "ACTIVE", server.get("fault")
        (addrs,) = server["addresses"].values()
        assert addrs[0]["addr"].startswith("10.77.0.") and addrs[0]["OS-EXT-IPS:type"] == "fixed"
        ports = demo.get(f"/network/v2.0/ports?device_id={server['id']}").json()["ports"]
        assert len(ports) == 1 and ports[0]["device_owner"].startswith("compute:")
    finally:
        demo.delete(f"{C}/servers/{server['id']}")
        wait_gone(demo, server["id"])
    assert demo.get(f"/network/v2.0/ports?device_id={server['id']}").json()["ports"] == []
    demo.delete(f"/network/v2.0/networks/{net_id}")


def test_create_server_on_unknown_network_is_400(demo, uniq):
    body = {"server": {"name": uniq("badnet"), "imageRef": IMAGE[0], "flavorRef": "c1",
                       "networks": [{"uuid": "5f0fd7b5-0000-4000-8000-000000000000"}]}}
    resp = demo.post(f"{C}/servers", json=body, headers=mv())
    assert resp.status_code == 400, resp.text
    assert "5f0fd7b5-0000-4000-8000-000000000000 could not be found" in resp.json()["badRequest"]["message"]
    body["server"]["networks"] = [{"uuid": "a-b-c-d-e-f-g-h-i-j", "fixed_ip": "10.0.1.1"}]  # as Tempest sends
    assert demo.post(f"{C}/servers", json=body, headers=mv()).status_code == 400
    body["server"]["networks"] = [{"port": "5f0fd7b5-0000-4000-8000-000000000001"}]
    resp = demo.post(f"{C}/servers", json=body, headers=mv())
    assert resp.status_code == 400 and "Port id" in resp.json()["badRequest"]["message"]
    servers = demo.get(f"{C}/servers?name={body['server']['name']}").json()["servers"]
    assert servers == []  # nothing was created


def test_list_servers_filtered_by_ip(demo, uniq):
    net = demo.post("/network/v2.0/networks", json={"network": {"name": uniq("net")}})
    if net.status_code == 404:
        pytest.skip("no network service in this cloud")
    net_id = net.json()["network"]["id"]
    demo.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "cidr": "10.78.0.0/24", "ip_version": 4, "name": uniq("sub")}})
    first = boot(demo, uniq("ip"), networks=[{"uuid": net_id}])
    second = boot(demo, uniq("ip"), networks=[{"uuid": net_id}])
    try:
        addr = next(iter(first["addresses"].values()))[0]["addr"]
        found = [s["id"] for s in demo.get(f"{C}/servers", params={"ip": f"^{addr}$"}).json()["servers"]]
        assert found == [first["id"]]
        both = {s["id"] for s in demo.get(f"{C}/servers/detail", params={"ip": r"^10\.78\.0\."}).json()["servers"]}
        assert both == {first["id"], second["id"]}
        assert demo.get(f"{C}/servers", params={"ip6": "10.78"}, headers=mv()).json()["servers"] == []
        assert demo.get(f"{C}/servers", params={"ip": "("}).status_code == 400
        updated = demo.put(f"{C}/servers/{first['id']}", json={"server": {"name": "renamed"}},
                           headers=mv("2.1")).json()["server"]
        assert next(iter(updated["addresses"].values())) == [{"version": 4, "addr": addr}]  # reduced before 2.75
    finally:
        for server in (first, second):
            demo.delete(f"{C}/servers/{server['id']}")
        for server in (first, second):
            wait_gone(demo, server["id"])
        demo.delete(f"/network/v2.0/networks/{net_id}")


def test_create_server_with_security_groups_puts_them_on_its_port(demo, uniq):
    net = demo.post("/network/v2.0/networks", json={"network": {"name": uniq("net")}})
    if net.status_code == 404:
        pytest.skip("no network service in this cloud")
    net_id = net.json()["network"]["id"]
    demo.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "cidr": "10.79.0.0/24", "ip_version": 4, "name": uniq("sub")}})
    group = demo.post("/network/v2.0/security-groups", json={"security_group": {"name": uniq("sg")}}).json()
    group = group["security_group"]
    body = {"server": {"name": uniq("sg"), "imageRef": IMAGE[0], "flavorRef": "c1", "networks": [{"uuid": net_id}],
                       "security_groups": [{"name": "no-such-group"}]}}
    resp = demo.post(f"{C}/servers", json=body, headers=mv())
    assert resp.status_code == 400 and "no-such-group" in resp.json()["badRequest"]["message"], resp.text
    # by name and by id (the same group twice is one), as Tempest's validation group and the CLI send them
    server = boot(demo, uniq("sg"), networks=[{"uuid": net_id}],
                  security_groups=[{"name": group["name"]}, {"name": group["id"]}, {"name": "default"}])
    try:
        assert server["status"] == "ACTIVE", server.get("fault")
        (port,) = demo.get(f"/network/v2.0/ports?device_id={server['id']}").json()["ports"]
        default = demo.get("/network/v2.0/security-groups?name=default").json()["security_groups"][0]["id"]
        assert sorted(port["security_groups"]) == sorted([group["id"], default])
    finally:
        demo.delete(f"{C}/servers/{server['id']}")
        wait_gone(demo, server["id"])
    demo.delete(f"/network/v2.0/security-groups/{group['id']}")
    demo.delete(f"/network/v2.0/networks/{net_id}")


def test_floating_ip_associated_through_networking_shows_in_server_addresses(admin, demo, uniq):
    # Neutron tells Nova (network-changed); here networking hints compute, which refreshes the addresses
    ext = admin.post("/network/v2.0/networks", json={"network": {"name": uniq("ext"), "router:external": True}})
    if ext.status_code == 404:
        pytest.skip("no network service in this cloud")
    ext_id = ext.json()["network"]["id"]
    admin.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": ext_id, "cidr": "10.76.1.0/24", "ip_version": 4, "enable_dhcp": False}})
    net_id = demo.post("/network/v2.0/networks", json={"network": {"name": uniq("net")}}).json()["network"]["id"]
    sub_id = demo.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "cidr": "10.76.0.0/24", "ip_version": 4}}).json()["subnet"]["id"]
    router = demo.post("/network/v2.0/routers", json={"router": {
        "name": uniq("r"), "external_gateway_info": {"network_id": ext_id}}}).json()["router"]
    demo.put(f"/network/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub_id})
    server = boot(demo, uniq("fip"), networks=[{"uuid": net_id}])
    fip = None
    try:
        (port,) = demo.get(f"/network/v2.0/ports?device_id={server['id']}").json()["ports"]
        fip = demo.post("/network/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext_id}}).json()
        fip = fip["floatingip"]

        def floating():
            addrs = demo.get(f"{C}/servers/{server['id']}", headers=mv()).json()["server"]["addresses"]
            return [a["addr"] for a in sum(addrs.values(), []) if a["OS-EXT-IPS:type"] == "floating"]

        assert floating() == []
        demo.put(f"/network/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
        wait_for(lambda: floating() == [fip["floating_ip_address"]], what="the floating IP in the addresses")
        demo.put(f"/network/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
        wait_for(lambda: floating() == [], what="the floating IP gone from the addresses")
    finally:
        if fip is not None:
            demo.delete(f"/network/v2.0/floatingips/{fip['id']}")
        demo.delete(f"{C}/servers/{server['id']}")
        wait_gone(demo, server["id"])
        demo.put(f"/network/v2.0/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub_id})
        demo.delete(f"/network/v2.0/routers/{router['id']}")
        demo.delete(f"/network/v2.0/networks/{net_id}")
        admin.delete(f"/network/v2.0/networks/{ext_id}")
