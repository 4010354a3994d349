"""Networking through the real ``openstack`` CLI against a real ``onestack up``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_cli_network_subnet_port_router_floating_ip(cli, demo_cli, name):
    ext = cli("network", "create", "--external", "--provider-network-type", "flat",
              "--provider-physical-network", f"{name}-phys", f"{name}-ext")
    assert ext["router:external"] is True and ext["provider:network_type"] == "flat"
    cli("subnet", "create", "--network", ext["id"], "--subnet-range", "172.31.77.0/24", "--no-dhcp",
        "--allocation-pool", "start=172.31.77.10,end=172.31.77.99", "--gateway", "172.31.77.1", f"{name}-extsub")
    vx = cli("network", "create", "--provider-network-type", "vxlan", f"{name}-vx")
    assert vx["provider:network_type"] == "vxlan" and vx["provider:segmentation_id"]

    net = demo_cli("network", "create", f"{name}-net")
    sub = demo_cli("subnet", "create", "--network", net["id"], "--subnet-range", "10.77.0.0/24",
                   "--dns-nameserver", "8.8.8.8", "--allocation-pool", "start=10.77.0.10,end=10.77.0.200",
                   "--gateway", "10.77.0.1", f"{name}-sub")
    assert sub["dns_nameservers"] == ["8.8.8.8"] and sub["gateway_ip"] == "10.77.0.1"
    v6 = demo_cli("subnet", "create", "--network", net["id"], "--ip-version", "6", "--ipv6-ra-mode", "slaac",
                  "--ipv6-address-mode", "slaac", "--subnet-range", "fd00:77::/64", f"{name}-v6")
    assert v6["ipv6_address_mode"] == "slaac"
    port = demo_cli("port", "create", "--network", net["id"], "--fixed-ip",
                    f"subnet={sub['id']},ip-address=10.77.0.50", f"{name}-port")
    ips = {ip["subnet_id"]: ip["ip_address"] for ip in port["fixed_ips"]}
    assert ips[sub["id"]] == "10.77.0.50" and ips[v6["id"]].startswith("fd00:77::")

    router = demo_cli("router", "create", f"{name}-router")
    demo_cli.ok("router", "set", "--external-gateway", ext["id"], router["id"])
    demo_cli.ok("router", "add", "subnet", router["id"], sub["id"])
    shown = demo_cli("router", "show", router["id"])
    assert shown["external_gateway_info"]["network_id"] == ext["id"]
    assert [i["subnet_id"] for i in shown["interfaces_info"]] == [sub["id"]]

    fip = demo_cli("floating", "ip", "create", ext["id"])
    assert fip["floating_ip_address"].startswith("172.31.77.")
    demo_cli.ok("floating", "ip", "set", "--port", port["id"], fip["id"])
    fip = demo_cli("floating", "ip", "show", fip["id"])
    assert fip["port_id"] == port["id"] and fip["port_details"]["mac_address"] == port["mac_address"]

    listed = cli("network", "list", "--long")
    row = next(r for r in listed if r["ID"] == ext["id"])
    assert row["Router Type"] in (True, "External") and row["Network Type"] == "flat"
    avail = cli("ip", "availability", "list")
    assert any(r["Network ID"] == net["id"] for r in avail)

    # teardown, in the order a user would
    demo_cli.ok("floating", "ip", "delete", fip["id"])
    demo_cli.ok("router", "remove", "subnet", router["id"], sub["id"])
    demo_cli.ok("router", "unset", "--external-gateway", router["id"])
    demo_cli.ok("router", "delete", router["id"])
    demo_cli.ok("port", "delete", port["id"])
    demo_cli.ok("network", "delete", net["id"])
    cli.ok("network", "delete", ext["id"], vx["id"])
    assert "no network found" in demo_cli.fails("network", "show", net["id"]).lower()


def test_cli_security_group_rules(demo_cli, name):
    group = demo_cli("security", "group", "create", name)
    tcp = demo_cli("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80:81", group["id"])
    udp = demo_cli("security", "group", "rule", "create", "--protocol", "udp", "--dst-port", "53",
                   "--remote-ip", "10.0.0.0/8", group["id"])
    icmp = demo_cli("security", "group", "rule", "create", "--protocol", "icmp", group["id"])
    remote = demo_cli("security", "group", "rule", "create", "--protocol", "tcp", "--remote-group", "default",
                      group["id"])
    assert tcp["port_range_min"] == 80 and tcp["port_range_max"] == 81
    assert udp["remote_ip_prefix"] == "10.0.0.0/8" and icmp["protocol"] == "icmp"
    assert remote["remote_group_id"]
    rules = demo_cli("security", "group", "rule", "list", group["id"])
    assert len(rules) == 6  # two default egress rules + four
    err = demo_cli.fails("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80:81",
                         group["id"])
    assert "409" in err or "already exists" in err
    demo_cli.ok("security", "group", "delete", group["id"])


def test_cli_quota_show_network(cli, demo_cli):
    quota = demo_cli("quota", "show", "--network")
    values = {r["Resource"]: r["Limit"] for r in quota} if isinstance(quota, list) else quota
    assert values["networks"] == 100 and values["ports"] == 500
