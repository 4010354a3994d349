"""The network agent's reconcilers against the fake driver (the session cloud's agent)."""

from __future__ import annotations

import threading
import time

import pytest

from onestack.network.agent import NetworkAgent

from .conftest import N, create, make_net, uid


@pytest.fixture
def agent(cloud) -> NetworkAgent:
    return next(a for a in cloud.agents if isinstance(a, NetworkAgent))


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_agent_serves_dhcp_hosts_for_api_ports(agent, admin):
    net, sub = make_net(admin, "10.90.0.0/24")
    port = create(admin, "ports", {"network_id": net["id"]})
    ip = port["fixed_ips"][0]["ip_address"]
    spec = wait_for(lambda: (s := agent.driver.dhcp.get(net["id"])) and any(h.ip == ip for h in s.hosts) and s)
    assert [h.mac for h in spec.hosts if h.ip == ip] == [port["mac_address"]]
    assert spec.subnets[0].gateway_ip == sub["gateway_ip"]
    assert net["id"] in agent.driver.networks
    admin.delete(f"{N}/ports/{port['id']}")
    admin.delete(f"{N}/networks/{net['id']}")
    wait_for(lambda: net["id"] not in agent.driver.networks and net["id"] not in agent.driver.dhcp)


def test_agent_binds_port_on_its_host_and_reports_active(agent, admin):
    net, _ = make_net(admin, "10.91.0.0/24")
    port = create(admin, "ports", {"network_id": net["id"], "binding:host_id": agent.state.host,
                                   "device_owner": "compute:nova", "device_id": uid()})
    wait_for(lambda: admin.get(f"{N}/ports/{port['id']}").json()["port"]["status"] == "ACTIVE")
    devname = agent.driver.ports[port["id"]].devname  # with the cloud's kernel object prefix, in IFNAMSIZ
    assert devname == f"{agent.state.prefix}t{port['id']}"[:15] and len(devname) == 15
    fw = wait_for(lambda: next((p for p in agent.driver.firewall if p.id == port["id"]), None))
    assert {r.direction for r in fw.rules} == {"ingress", "egress"}
    ingress = [r for r in fw.rules if r.direction == "ingress" and r.ethertype == "IPv4"]
    # remote group: one rule naming the group, its members' addresses handed over as a set
    assert ingress[0].remote_group == port["security_groups"][0] and ingress[0].remote_ip_prefix is None
    assert port["fixed_ips"][0]["ip_address"] in agent.driver.firewall_groups[ingress[0].remote_group]


def test_agent_builds_router_with_snat_and_floating_ip(agent, admin):
    ext = create(admin, "networks", {"name": uid(), "router:external": True})
    create(admin, "subnets", {"network_id": ext["id"], "cidr": "172.31.9.0/24", "enable_dhcp": False})
    net, sub = make_net(admin, "10.92.0.0/24")
    router = create(admin, "routers", {"name": uid(), "external_gateway_info": {"network_id": ext["id"]}})
    admin.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    port = create(admin, "ports", {"network_id": net["id"], "device_owner": "compute:nova", "device_id": uid()})
    fip = create(admin, "floatingips", {"floating_network_id": ext["id"], "port_id": port["id"]})
    spec = wait_for(lambda: (s := agent.driver.routers.get(router["id"])) and s.floating_ips and s)
    assert spec.enable_snat and spec.gateway.addresses[0].ip.startswith("172.31.9.")
    assert spec.interfaces[0].addresses[0].ip == "10.92.0.1" and spec.gateway_ip == "172.31.9.1"
    assert spec.floating_ips[0].fixed_ip == port["fixed_ips"][0]["ip_address"]
    assert any(t.instance_id == port["device_id"] for t in spec.metadata)
    wait_for(lambda: admin.get(f"{N}/floatingips/{fip['id']}").json()["floatingip"]["status"] == "ACTIVE")
    admin.delete(f"{N}/floatingips/{fip['id']}")
    admin.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    admin.delete(f"{N}/routers/{router['id']}")
    wait_for(lambda: router["id"] not in agent.driver.routers)


def test_agent_advertises_ipv6_prefixes_and_serves_dhcpv6_hosts(agent, admin):
    net = create(admin, "networks", {"name": uid()})
    sub = create(admin, "subnets", {"network_id": net["id"], "ip_version": 6, "cidr": "fd62:1::/64",
                                    "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"})
    router = create(admin, "routers", {"name": uid()})
    admin.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    port = create(admin, "ports", {"network_id": net["id"]})
    ip = port["fixed_ips"][0]["ip_address"]
    spec = wait_for(lambda: (s := agent.driver.routers.get(router["id"])) and s.interfaces and s)
    assert [(a.prefix, a.mode) for a in spec.interfaces[0].advertisements] == [("fd62:1::/64", "dhcpv6-stateful")]
    dhcp = wait_for(lambda: (s := agent.driver.dhcp.get(net["id"])) and any(h.ip == ip for h in s.hosts) and s)
    assert dhcp.subnets[0].ipv6_address_mode == "dhcpv6-stateful"
    assert [h.hostname for h in dhcp.hosts if h.ip == ip] == ["host-" + ip.replace(":", "-")]


def test_agent_has_routers_forget_addresses_released_by_deleted_ports(agent, admin):
    net, sub = make_net(admin, "10.93.0.0/24")
    router = create(admin, "routers", {"name": uid()})
    admin.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    port = create(admin, "ports", {"network_id": net["id"], "binding:host_id": agent.state.host,
                                   "device_owner": "compute:nova", "device_id": uid()})
    ip = port["fixed_ips"][0]["ip_address"]
    wait_for(lambda: agent.state.addresses.get(net["id"], {}).get(ip) == port["mac_address"])
    assert net["id"] in agent.state.networks_ensured  # the port check built the bridge once, then knows it
    admin.delete(f"{N}/ports/{port['id']}")
    wait_for(lambda: (router["id"], (ip,)) in agent.driver.forgotten)
    admin.put(f"{N}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    admin.delete(f"{N}/routers/{router['id']}")
    admin.delete(f"{N}/networks/{net['id']}")
    wait_for(lambda: net["id"] not in agent.state.networks_ensured and net["id"] not in agent.state.addresses)


def test_port_check_builds_a_known_network_again_after_a_failure(agent, admin, monkeypatch):
    from onestack.network.agent import PortReconciler

    net, _ = make_net(admin, "10.94.0.0/24")
    port = create(admin, "ports", {"network_id": net["id"], "binding:host_id": agent.state.host,
                                   "device_owner": "compute:nova", "device_id": uid()})
    wait_for(lambda: admin.get(f"{N}/ports/{port['id']}").json()["port"]["status"] == "ACTIVE")
    agent.wait_idle(5)  # the events of the create handled: only a resync may refresh the network meanwhile
    ensured = []  # by this thread: the agent's own workers may refresh the network meanwhile (resync)
    real_ensure = agent.driver.ensure_network

    def counting(spec):
        if threading.get_ident() == me:
            ensured.append(spec.id)
        return real_ensure(spec)

    me = threading.get_ident()
    monkeypatch.setattr(agent.driver, "ensure_network", counting)
    checks = next(r for r in agent.reconcilers.values() if isinstance(r, PortReconciler))
    checks.reconcile(port["id"])
    assert net["id"] not in ensured  # known built: no driver work for the network on a port check

    def lost(spec):
        raise RuntimeError("bridge gone")

    monkeypatch.setattr(agent.driver, "ensure_port", lost)
    with pytest.raises(RuntimeError):
        checks.reconcile(port["id"])
    assert net["id"] not in agent.state.networks_ensured
    monkeypatch.undo()
    monkeypatch.setattr(agent.driver, "ensure_network", counting)
    checks.reconcile(port["id"])
    assert ensured.count(net["id"]) == 1  # built again once, then known again
    checks.reconcile(port["id"])
    assert ensured.count(net["id"]) == 1
    admin.delete(f"{N}/ports/{port['id']}")
    admin.delete(f"{N}/networks/{net['id']}")


def test_port_event_changes_only_that_ports_dhcp_entries_from_one_statement(agent, admin):
    from sqlalchemy import event

    from onestack.network.agent import NetworkReconciler

    net, _ = make_net(admin, "10.95.0.0/24")
    first = create(admin, "ports", {"network_id": net["id"]})
    wait_for(lambda: (s := agent.driver.dhcp.get(net["id"])) and any(h.mac == first["mac_address"] for h in s.hosts))
    agent.wait_idle(5)
    reconciler = next(r for r in agent.reconcilers.values() if isinstance(r, NetworkReconciler))
    assert net["id"] in reconciler.seen  # fully reconciled once: port events are incremental from now on
    engine = agent.state.uow.engine
    statements: list[str] = []
    me = threading.get_ident()

    def count(conn, cursor, sql, *args):
        if threading.get_ident() == me and sql != "BEGIN":
            statements.append(sql)

    second = create(admin, "ports", {"network_id": net["id"]})
    event.listen(engine, "before_cursor_execute", count)
    try:
        reconciler.reconcile(f"{net['id']}/{second['id']}")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    spec = agent.driver.dhcp[net["id"]]
    assert {h.mac for h in spec.hosts} >= {first["mac_address"], second["mac_address"]}
    assert [h.ip for h in spec.hosts] == sorted(h.ip for h in spec.hosts)
    admin.delete(f"{N}/ports/{second['id']}")  # a deleted port's entry goes (needs_network: one more look)
    wait_for(lambda: all(h.mac != second["mac_address"] for h in agent.driver.dhcp[net["id"]].hosts))
    admin.delete(f"{N}/ports/{first['id']}")
    admin.delete(f"{N}/networks/{net['id']}")
    wait_for(lambda: net["id"] not in agent.driver.dhcp and net["id"] not in reconciler.seen)


def test_plug_notice_of_an_active_port_needs_no_port_check(agent, admin, monkeypatch):
    from onestack.network.agent import PluggedReconciler, PortReconciler

    net, _ = make_net(admin, "10.96.0.0/24")
    port = create(admin, "ports", {"network_id": net["id"], "binding:host_id": agent.state.host,
                                   "device_owner": "compute:nova", "device_id": uid()})
    wait_for(lambda: admin.get(f"{N}/ports/{port['id']}").json()["port"]["status"] == "ACTIVE")
    wait_for(lambda: port["id"] in agent.state.active_ports)
    checks = next(r for r in agent.reconcilers.values() if isinstance(r, PortReconciler))
    notices = next(r for r in agent.reconcilers.values() if isinstance(r, PluggedReconciler))
    woken: list[str] = []
    monkeypatch.setattr(agent.state, "wake_port", woken.append)
    notices.reconcile(port["id"])
    assert woken == []  # ACTIVE on the device the driver still has attached
    monkeypatch.setattr(agent.driver, "ensure_port", lambda spec: False)  # the device went
    notices.reconcile(port["id"])
    assert woken == [port["id"]]
    monkeypatch.undo()
    checks.forget(port["id"])
    notices.reconcile("no-such-port")  # not known ACTIVE: a full check
    admin.delete(f"{N}/ports/{port['id']}")
    admin.delete(f"{N}/networks/{net['id']}")


def test_firewall_run_is_skipped_when_every_hint_came_before_the_last_run(agent, monkeypatch):
    from onestack.network.agent import FirewallReconciler

    fw = next(r for r in agent.reconcilers.values() if isinstance(r, FirewallReconciler))
    applied: list[int] = []
    real = agent.driver.apply_firewall
    monkeypatch.setattr(agent.driver, "apply_firewall",
                        lambda ports, groups=None: applied.append(1) or real(ports, groups))
    fw.hint()
    fw.reconcile("all")
    fw.reconcile("all")  # queued again by a hint the first run covered
    assert len(applied) == 1
    fw.hint()  # a change announced after that run read the database
    fw.reconcile("all")
    assert len(applied) == 2
    list(fw.pending_keys())  # the periodic resync always runs
    fw.reconcile("all")
    assert len(applied) == 3
