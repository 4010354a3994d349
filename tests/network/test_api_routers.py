from __future__ import annotations

from .conftest import N, create, error_type, make_net, uid


def _external(admin, cidr: str) -> tuple[dict, dict]:
    net = create(admin, "networks", {"name": uid("ext"), "router:external": True})
    sub = create(admin, "subnets", {"network_id": net["id"], "cidr": cidr, "ip_version": 4, "enable_dhcp": False})
    return net, sub


def test_create_router_with_gateway_and_interfaces(admin, member):
    ext, ext_sub = _external(admin, "172.30.1.0/24")
    net, sub = make_net(member, "10.50.0.0/24")
    router = create(member, "routers", {"name": uid(), "external_gateway_info": {"network_id": ext["id"]}})
    info = router["external_gateway_info"]
    assert info["network_id"] == ext["id"] and info["enable_snat"] is True
    assert info["external_fixed_ips"][0]["subnet_id"] == ext_sub["id"]
    url = f"{N}/routers/{router['id']}"
    added = member.put(f"{url}/add_router_interface", json={"subnet_id": sub["id"]})
    assert added.status_code == 200 and added.json()["subnet_id"] == sub["id"]
    iface = member.get(f"{N}/ports/{added.json()['port_id']}").json()["port"]
    assert iface["device_owner"] == "network:router_interface" and iface["fixed_ips"][0]["ip_address"] == "10.50.0.1"
    again = member.put(f"{url}/add_router_interface", json={"subnet_id": sub["id"]})
    assert again.status_code == 400
    routes = member.put(url, json={"router": {"routes": [{"destination": "192.168.77.0/24",
                                                          "nexthop": "10.50.0.9"}]}})
    assert routes.status_code == 200 and routes.json()["router"]["routes"][0]["nexthop"] == "10.50.0.9"
    bad_route = member.put(url, json={"router": {"routes": [{"destination": "192.168.78.0/24",
                                                             "nexthop": "10.99.0.9"}]}})
    assert bad_route.status_code == 400 and error_type(bad_route) == "InvalidRoutes"
    in_use = member.put(f"{url}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert in_use.status_code == 409 and error_type(in_use) == "RouterInterfaceInUseByRoute"
    member.put(url, json={"router": {"routes": []}})
    busy = member.delete(url)
    assert busy.status_code == 409 and error_type(busy) == "RouterInUse"
    assert member.delete(f"{N}/ports/{iface['id']}").status_code == 409
    assert member.put(f"{url}/remove_router_interface", json={"subnet_id": sub["id"]}).status_code == 200
    missing = member.put(f"{url}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert missing.status_code == 404 and error_type(missing) == "RouterInterfaceNotFoundForSubnet"
    assert member.delete(url).status_code == 204
    assert member.get(url).status_code == 404


def test_update_router_gateway_fixed_ip_and_snat_are_admin_only(admin, member):
    ext, ext_sub = _external(admin, "172.30.2.0/24")
    router = create(member, "routers", {"name": uid()})
    url = f"{N}/routers/{router['id']}"
    denied = member.put(url, json={"router": {"external_gateway_info": {"network_id": ext["id"],
                                                                        "enable_snat": False}}})
    assert denied.status_code == 403
    body = {"external_gateway_info": {"network_id": ext["id"], "enable_snat": False, "external_fixed_ips": [
        {"subnet_id": ext_sub["id"], "ip_address": "172.30.2.50"}]}}
    done = admin.put(url, json={"router": body}).json()["router"]["external_gateway_info"]
    assert done["enable_snat"] is False and done["external_fixed_ips"][0]["ip_address"] == "172.30.2.50"
    cleared = member.put(url, json={"router": {"external_gateway_info": {}}}).json()["router"]
    assert cleared["external_gateway_info"] is None
    not_external = make_net(member, "10.51.0.0/24")[0]
    resp = member.put(url, json={"router": {"external_gateway_info": {"network_id": not_external["id"]}}})
    assert resp.status_code == 400


def test_create_floatingip_associate_shows_port_details(admin, member):
    ext, _ = _external(admin, "172.30.3.0/24")
    net, sub = make_net(member, "10.52.0.0/24")
    port = create(member, "ports", {"network_id": net["id"], "name": uid("vm")})
    unreachable = member.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": ext["id"],
                                                                        "port_id": port["id"]}})
    assert unreachable.status_code == 404 and error_type(unreachable) == "ExternalGatewayForFloatingIPNotFound"
    router = create(member, "routers", {"name": uid(), "external_gateway_info": {"network_id": ext["id"]}})
    member.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    fip = create(member, "floatingips", {"floating_network_id": ext["id"]})
    assert fip["status"] == "DOWN" and fip["port_details"] is None
    assert fip["floating_ip_address"].startswith("172.30.3.")
    url = f"{N}/floatingips/{fip['id']}"
    assoc = member.put(url, json={"floatingip": {"port_id": port["id"]}}).json()["floatingip"]
    assert assoc["router_id"] == router["id"] and assoc["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert assoc["port_details"]["mac_address"] == port["mac_address"]
    second = member.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": ext["id"],
                                                                   "port_id": port["id"]}})
    assert second.status_code == 409 and error_type(second) == "FloatingIPPortAlreadyAssociated"
    busy = member.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert busy.status_code == 409
    member.delete(f"{N}/ports/{port['id']}")
    assert member.get(url).json()["floatingip"]["port_id"] is None
    assert member.delete(url).status_code == 204
    leftover = admin.get(f"{N}/ports", params={"device_id": fip["id"]}).json()["ports"]
    assert leftover == []


def test_create_floatingip_on_internal_network_is_400(member):
    net, _ = make_net(member, "10.53.0.0/24")
    resp = member.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": net["id"]}})
    assert resp.status_code == 400


def test_router_and_floating_ip_ports_are_created_with_their_status(admin, member):
    ext, _ = _external(admin, "172.30.9.0/24")
    _, sub = make_net(member, "10.59.0.0/24")
    router = create(member, "routers", {"name": uid(), "external_gateway_info": {"network_id": ext["id"]}})
    added = member.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}).json()
    assert member.get(f"{N}/ports/{added['port_id']}").json()["port"]["status"] == "ACTIVE"
    gateway = admin.get(f"{N}/ports", params={"device_id": router["id"],
                                              "device_owner": "network:router_gateway"}).json()["ports"]
    assert [p["status"] for p in gateway] == ["ACTIVE"]
    fip = create(member, "floatingips", {"floating_network_id": ext["id"]})
    floating = admin.get(f"{N}/ports", params={"device_id": fip["id"]}).json()["ports"]
    assert [(p["device_owner"], p["status"]) for p in floating] == [("network:floatingip", "N/A")]
