from __future__ import annotations

import ipaddress

from .conftest import N, create, error_type, make_net, uid


def test_create_subnet_defaults_pools_gateway(demo):
    net = create(demo, "networks", {"name": uid()})
    sub = create(demo, "subnets", {"network_id": net["id"], "cidr": "10.20.0.0/24", "ip_version": 4,
                                   "dns_nameservers": ["8.8.8.8"], "host_routes": [
                                       {"destination": "10.30.0.0/24", "nexthop": "10.20.0.9"}]})
    assert sub["gateway_ip"] == "10.20.0.1" and sub["enable_dhcp"] is True
    assert sub["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    assert sub["dns_nameservers"] == ["8.8.8.8"] and sub["host_routes"][0]["nexthop"] == "10.20.0.9"
    shown = demo.get(f"{N}/networks/{net['id']}").json()["network"]
    assert shown["subnets"] == [sub["id"]]
    upd = demo.put(f"{N}/subnets/{sub['id']}", json={"subnet": {"name": "x", "dns_nameservers": []}}).json()
    assert upd["subnet"]["dns_nameservers"] == [] and upd["subnet"]["revision_number"] == 2


def test_create_subnet_explicit_pools_and_no_gateway(demo):
    net = create(demo, "networks", {"name": uid()})
    sub = create(demo, "subnets", {"network_id": net["id"], "cidr": "10.21.0.0/24", "ip_version": 4,
                                   "gateway_ip": None, "allocation_pools": [{"start": "10.21.0.10",
                                                                             "end": "10.21.0.20"}]})
    assert sub["gateway_ip"] is None and sub["allocation_pools"][0]["start"] == "10.21.0.10"


def test_create_subnet_invalid_input_is_400(demo):
    net = create(demo, "networks", {"name": uid()})
    nid = net["id"]
    cases = [
        {"network_id": nid, "cidr": "10.22.0.5/24", "ip_version": 4},
        {"network_id": nid, "cidr": "not-a-cidr", "ip_version": 4},
        {"network_id": nid, "cidr": "10.22.0.0/24", "ip_version": 6},
        {"network_id": nid, "cidr": "10.22.0.0/24", "ip_version": 4, "gateway_ip": "10.99.0.1",
         "allocation_pools": [{"start": "10.99.0.2", "end": "10.99.0.5"}]},
        {"network_id": nid, "cidr": "10.22.0.0/24", "ip_version": 4, "ipv6_ra_mode": "slaac"},
        {"network_id": nid, "ip_version": 4},
    ]
    for body in cases:
        resp = demo.post(f"{N}/subnets", json={"subnet": body})
        assert resp.status_code == 400, (body, resp.text)
    create(demo, "subnets", {"network_id": nid, "cidr": "10.22.0.0/24", "ip_version": 4})
    overlap = demo.post(f"{N}/subnets", json={"subnet": {"network_id": nid, "cidr": "10.22.0.128/25",
                                                         "ip_version": 4}})
    assert overlap.status_code == 400 and error_type(overlap) == "InvalidInput"
    conflict = demo.post(f"{N}/subnets", json={"subnet": {
        "network_id": nid, "cidr": "10.23.0.0/24", "ip_version": 4, "gateway_ip": "10.23.0.5",
        "allocation_pools": [{"start": "10.23.0.2", "end": "10.23.0.9"}]}})
    assert conflict.status_code == 409 and error_type(conflict) == "GatewayConflictWithAllocationPools"
    missing = demo.post(f"{N}/subnets", json={"subnet": {"network_id": "nope", "cidr": "10.24.0.0/24"}})
    assert missing.status_code == 404 and error_type(missing) == "NetworkNotFound"


def test_create_subnet_ipv6_slaac_and_stateful(demo):
    net = create(demo, "networks", {"name": uid()})
    slaac = create(demo, "subnets", {"network_id": net["id"], "cidr": "fd00:10::/64", "ip_version": 6,
                                     "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})
    assert slaac["gateway_ip"] == "fd00:10::1" and slaac["ipv6_address_mode"] == "slaac"
    stateful = create(demo, "subnets", {"network_id": net["id"], "cidr": "fd00:11::/64", "ip_version": 6,
                                        "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"})
    port = create(demo, "ports", {"network_id": net["id"]})
    by_subnet = {ip["subnet_id"]: ip["ip_address"] for ip in port["fixed_ips"]}
    mac = port["mac_address"].split(":")
    eui = f"fd00:10::{int(mac[0], 16) ^ 2:x}{mac[1]}:{mac[2]}ff:fe{mac[3]}:{mac[4]}{mac[5]}"
    assert ipaddress.ip_address(by_subnet[slaac["id"]]) == ipaddress.ip_address(eui)
    assert by_subnet[stateful["id"]].startswith("fd00:11::")
    bad = demo.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "fd00:12::/64",
                                                     "ip_version": 6, "ipv6_ra_mode": "slaac",
                                                     "ipv6_address_mode": "dhcpv6-stateful"}})
    assert bad.status_code == 400


def test_create_subnet_from_subnetpool_allocates_prefixes(member, admin):
    pool = create(member, "subnetpools", {"name": uid(), "prefixes": ["10.100.0.0/16"], "default_prefixlen": 26})
    net = create(member, "networks", {"name": uid()})
    a = create(member, "subnets", {"network_id": net["id"], "subnetpool_id": pool["id"], "ip_version": 4})
    b = create(member, "subnets", {"network_id": net["id"], "subnetpool_id": pool["id"], "ip_version": 4,
                                   "prefixlen": 28})
    assert a["cidr"] == "10.100.0.0/26" and b["cidr"] == "10.100.0.64/28"
    assert a["subnetpool_id"] == pool["id"]
    too_big = member.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "subnetpool_id": pool["id"],
                                                           "ip_version": 4, "prefixlen": 8}})
    assert too_big.status_code == 400
    busy = member.delete(f"{N}/subnetpools/{pool['id']}")
    assert busy.status_code == 409
    member.delete(f"{N}/subnets/{b['id']}")
    assert member.get(f"{N}/subnetpools/{pool['id']}").json()["subnetpool"]["prefixes"] == ["10.100.0.0/16"]


def test_create_subnet_use_default_subnetpool(admin, member):
    pool = create(admin, "subnetpools", {"name": uid(), "prefixes": ["fd77::/48"], "default_prefixlen": 64,
                                         "shared": True, "is_default": True})
    try:
        net = create(member, "networks", {"name": uid()})
        sub = create(member, "subnets", {"network_id": net["id"], "use_default_subnetpool": True, "ip_version": 6})
        assert sub["cidr"] == "fd77::/64"
        member.delete(f"{N}/subnets/{sub['id']}")
    finally:
        assert admin.delete(f"{N}/subnetpools/{pool['id']}").status_code == 204


def test_delete_subnet_in_use_is_409(demo):
    net, sub = make_net(demo, "10.25.0.0/24")
    port = create(demo, "ports", {"network_id": net["id"]})
    resp = demo.delete(f"{N}/subnets/{sub['id']}")
    assert resp.status_code == 409 and error_type(resp) == "SubnetInUse"
    demo.delete(f"{N}/ports/{port['id']}")
    assert demo.delete(f"{N}/subnets/{sub['id']}").status_code == 204


def test_list_network_ip_availabilities_counts_allocations(admin):
    net, sub = make_net(admin, "10.26.0.0/28")
    create(admin, "ports", {"network_id": net["id"]})
    body = admin.get(f"{N}/network-ip-availabilities/{net['id']}").json()["network_ip_availability"]
    assert body["total_ips"] == 13  # .2-.14
    assert body["used_ips"] == 2  # the port and the DHCP port
    listed = admin.get(f"{N}/network-ip-availabilities", params={"network_id": net["id"]}).json()
    assert listed["network_ip_availabilities"][0]["subnet_ip_availability"][0]["subnet_id"] == sub["id"]


def test_list_network_ip_availabilities_member_is_403(demo):
    assert demo.get(f"{N}/network-ip-availabilities").status_code == 403
