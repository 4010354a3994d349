"""Servers on networks through the network client: ports are created at build and freed at delete."""

from tests.compute.conftest import C, boot, wait_gone


def test_create_server_on_network_gets_port_and_addresses(demo, uniq):
    net = demo.post("/network/v2.0/networks", json={"network": {"name": uniq("net")}})
    if net.status_code == 404:
        import pytest

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


def test_create_server_on_unknown_network_ends_in_error(demo, servers, uniq):
    server = boot(demo, uniq("badnet"), networks=[{"uuid": "5f0fd7b5-0000-4000-8000-000000000000"}])
    servers.append(server["id"])
    assert server["status"] == "ERROR" and server["fault"]["message"]
