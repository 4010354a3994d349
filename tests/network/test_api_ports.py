from __future__ import annotations

from .conftest import N, create, error_type, make_net, uid


def test_create_port_allocates_ip_mac_and_default_security_group(demo):
    net, sub = make_net(demo, "10.40.0.0/24")
    port = create(demo, "ports", {"network_id": net["id"], "name": uid()})
    assert port["status"] == "DOWN" and port["mac_address"].startswith("fa:16:3e:")
    assert port["fixed_ips"][0]["subnet_id"] == sub["id"]
    groups = demo.get(f"{N}/security-groups", params={"name": "default"}).json()["security_groups"]
    assert port["security_groups"] == [groups[0]["id"]]
    assert "binding:host_id" not in port  # admin-only


def test_create_port_fixed_ip_in_use_is_409(demo):
    net, sub = make_net(demo, "10.41.0.0/24", pool=("10.41.0.100", "10.41.0.200"))  # the DHCP port's, not .50
    create(demo, "ports", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.41.0.50"}]})
    resp = demo.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.41.0.50"}]}})
    assert resp.status_code == 409 and error_type(resp) == "IpAddressInUse"
    outside = demo.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.99.0.5"}]}})
    assert outside.status_code == 400 and error_type(outside) == "InvalidInput"
    gateway = demo.post(f"{N}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"ip_address": "10.41.0.1"}]}})
    assert gateway.status_code == 409


def test_create_port_exhausted_subnet_is_409_and_leaks_nothing(demo):
    net = create(demo, "networks", {"name": uid()})
    create(demo, "subnets", {"network_id": net["id"], "cidr": "10.42.0.0/29", "ip_version": 4,
                             "enable_dhcp": False})  # .2-.6: five addresses
    ports = [create(demo, "ports", {"network_id": net["id"]}) for _ in range(5)]
    assert len({p["fixed_ips"][0]["ip_address"] for p in ports}) == 5
    before = len(demo.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"])
    resp = demo.post(f"{N}/ports", json={"port": {"network_id": net["id"]}})
    assert resp.status_code == 409 and error_type(resp) == "IpAddressGenerationFailure"
    assert len(demo.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]) == before


def test_create_port_duplicate_mac_is_409(admin):
    net, _ = make_net(admin, "10.43.0.0/24")
    port = create(admin, "ports", {"network_id": net["id"]})
    resp = admin.post(f"{N}/ports", json={"port": {"network_id": net["id"], "mac_address": port["mac_address"]}})
    assert resp.status_code == 409 and error_type(resp) == "MacAddressInUse"


def test_create_port_binding_and_pairs_as_admin(admin):
    net, _ = make_net(admin, "10.44.0.0/24")
    port = create(admin, "ports", {"network_id": net["id"], "binding:host_id": "hostA", "device_owner":
                                   "compute:nova", "device_id": uid(), "allowed_address_pairs": [
                                       {"ip_address": "10.44.0.200/32"}]})
    assert port["binding:host_id"] == "hostA" and port["binding:vif_type"] == "bridge"
    # the device name is the host's business (NetworkClient.vif_name), as upstream's linuxbridge details
    assert port["binding:vif_details"] == {"port_filter": True, "connectivity": "l2"}
    assert port["allowed_address_pairs"] == [{"ip_address": "10.44.0.200/32", "mac_address": port["mac_address"]}]
    unbound = admin.put(f"{N}/ports/{port['id']}", json={"port": {"binding:host_id": ""}}).json()["port"]
    assert unbound["binding:vif_type"] == "unbound"


def test_update_port_security_requires_no_groups(demo):
    net, _ = make_net(demo, "10.45.0.0/24")
    port = create(demo, "ports", {"network_id": net["id"]})
    resp = demo.put(f"{N}/ports/{port['id']}", json={"port": {"port_security_enabled": False}})
    assert resp.status_code == 409
    ok = demo.put(f"{N}/ports/{port['id']}", json={"port": {"port_security_enabled": False,
                                                            "security_groups": []}})
    assert ok.status_code == 200 and ok.json()["port"]["security_groups"] == []
    pairs = demo.put(f"{N}/ports/{port['id']}", json={"port": {"allowed_address_pairs": [{"ip_address": "1.2.3.4"}]}})
    assert pairs.status_code == 409 and error_type(pairs) == "AddressPairAndPortSecurityRequired"


def test_update_port_fixed_ips_replaces_allocations(demo):
    net, sub = make_net(demo, "10.46.0.0/24", pool=("10.46.0.100", "10.46.0.200"))  # the DHCP port's, not .10/.11
    port = create(demo, "ports", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.46.0.10"}]})
    upd = demo.put(f"{N}/ports/{port['id']}", json={"port": {"fixed_ips": [
        {"ip_address": "10.46.0.10"}, {"subnet_id": sub["id"], "ip_address": "10.46.0.11"}]}}).json()["port"]
    assert [ip["ip_address"] for ip in upd["fixed_ips"]] == ["10.46.0.10", "10.46.0.11"]
    upd = demo.put(f"{N}/ports/{port['id']}", json={"port": {"fixed_ips": [{"ip_address": "10.46.0.11"}]}}).json()
    assert [ip["ip_address"] for ip in upd["port"]["fixed_ips"]] == ["10.46.0.11"]
    reuse = create(demo, "ports", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.46.0.10"}]})
    assert reuse["fixed_ips"][0]["ip_address"] == "10.46.0.10"


def test_list_ports_filters_by_fixed_ip_and_device(demo):
    net, _ = make_net(demo, "10.47.0.0/24", pool=("10.47.0.100", "10.47.0.200"))  # the DHCP port's, not .77
    device = uid()
    port = create(demo, "ports", {"network_id": net["id"], "device_id": device,
                                  "fixed_ips": [{"ip_address": "10.47.0.77"}]})
    assert [p["id"] for p in demo.get(f"{N}/ports", params={"device_id": device}).json()["ports"]] == [port["id"]]
    found = demo.get(f"{N}/ports", params={"fixed_ips": "ip_address=10.47.0.77"}).json()["ports"]
    assert [p["id"] for p in found] == [port["id"]]
    sub = demo.get(f"{N}/ports", params={"fixed_ips": "ip_address_substr=47.0.7"}).json()["ports"]
    assert port["id"] in [p["id"] for p in sub]


def test_show_port_of_other_project_is_404(member, other_member):
    net, _ = make_net(other_member, "10.48.0.0/24")
    port = create(other_member, "ports", {"network_id": net["id"]})
    resp = member.get(f"{N}/ports/{port['id']}")
    assert resp.status_code == 404 and error_type(resp) == "PortNotFound"
    assert port["id"] not in [p["id"] for p in member.get(f"{N}/ports").json()["ports"]]
    assert member.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).status_code == 404


def test_create_port_bulk_is_all_or_nothing(demo):
    net, _ = make_net(demo, "10.49.0.0/24")
    resp = demo.post(f"{N}/ports", json={"ports": [{"network_id": net["id"], "name": "a"},
                                                   {"network_id": net["id"], "name": "b"}]})
    assert resp.status_code == 201
    ports = resp.json()["ports"]
    assert [p["name"] for p in ports] == ["a", "b"]
    assert ports[0]["fixed_ips"][0]["ip_address"] != ports[1]["fixed_ips"][0]["ip_address"]
    before = len(demo.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"])
    bad = demo.post(f"{N}/ports", json={"ports": [{"network_id": net["id"]}, {"network_id": net["id"], "fixed_ips": [
        {"ip_address": ports[0]["fixed_ips"][0]["ip_address"]}]}]})
    assert bad.status_code == 409
    assert len(demo.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]) == before


def test_list_ports_pages_with_limit_and_marker(demo):
    net, _ = make_net(demo, "10.38.0.0/24")
    device = uid()
    made = [create(demo, "ports", {"network_id": net["id"], "device_id": device})["id"] for _ in range(5)]
    seen, url = [], f"{N}/ports?device_id={device}&limit=2"
    while url:
        body = demo.get(url).json()
        seen += [p["id"] for p in body["ports"]]
        nxt = [link["href"] for link in body.get("ports_links", []) if link["rel"] == "next"]
        url = nxt[0].replace("http://127.0.0.1:8080", "") if nxt else None
    assert seen == made
    fields = demo.get(f"{N}/ports", params={"device_id": device, "limit": 1, "fields": "id"}).json()
    assert fields["ports"] == [{"id": made[0]}]
    assert demo.get(f"{N}/ports", params={"limit": 1, "marker": "nope"}).status_code == 400


def test_create_port_and_network_answers_match_a_later_show(demo, admin):
    # the create answers are rendered from the rows in memory, not read back: they must not differ
    net = create(demo, "networks", {"name": uid(), "tags": ["b", "a"]})
    assert demo.get(f"{N}/networks/{net['id']}").json()["network"] == net
    create(demo, "subnets", {"network_id": net["id"], "cidr": "10.48.0.0/24", "ip_version": 4})
    create(demo, "subnets", {"network_id": net["id"], "cidr": "fd00:48::/64", "ip_version": 6,
                             "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"})
    port = create(demo, "ports", {"network_id": net["id"], "name": uid(), "allowed_address_pairs": [
        {"ip_address": "10.48.0.200"}]})
    assert len(port["fixed_ips"]) == 2
    assert demo.get(f"{N}/ports/{port['id']}").json()["port"] == port
    bulk = admin.post(f"{N}/ports", json={"ports": [{"network_id": net["id"], "binding:host_id": "h"}] * 3})
    assert bulk.status_code == 201
    for item in bulk.json()["ports"]:
        assert admin.get(f"{N}/ports/{item['id']}").json()["port"] == item


def test_create_port_without_address_or_group_renders(demo):
    # a network without a subnet, port security off: no allocation and no group binding (Tempest's ports)
    net = create(demo, "networks", {"name": uid()})
    port = create(demo, "ports", {"network_id": net["id"], "port_security_enabled": False})
    assert port["fixed_ips"] == [] and port["security_groups"] == []
    assert demo.get(f"{N}/ports/{port['id']}").json()["port"] == port
