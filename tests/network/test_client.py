"""The in-process facade compute uses."""

from __future__ import annotations

import pytest

from onestack.core.context import RequestContext
from onestack.core.errors import ApiError

from .conftest import N, create, make_net, new_member, uid


@pytest.fixture
def project(http, admin):
    session = new_member(http, admin)
    ctx = RequestContext(user_id=session.user_id, project_id=session.project_id, roles=("member",))
    return session, ctx


def test_allocate_for_server_auto_creates_bound_port(cloud, project):
    session, ctx = project
    net, sub = make_net(session, "10.80.0.0/24")
    client = cloud.clients["network"]
    server = uid("srv")
    ports = client.allocate_for_server(ctx, server, "host-1", "auto")
    assert len(ports) == 1
    port = ports[0]
    assert port["device_id"] == server and port["device_owner"] == "compute:nova"
    assert port["binding:host_id"] == "host-1" and port["network_id"] == net["id"]
    assert port["network_name"] == net["name"] and port["fixed_ips"][0]["subnet_id"] == sub["id"]
    assert client.ports_for_server(server) == ports
    assert client.vif_name(port["id"]) == port["binding:vif_details"]["devname"]
    client.deallocate_for_server(server)
    assert client.ports_for_server(server) == []
    assert session.get(f"{N}/ports/{port['id']}").status_code == 404


def test_allocate_for_server_explicit_requests_and_rollback(cloud, project):
    session, ctx = project
    # the DHCP port and the port without a fixed_ip take random addresses from .100-.200: the fixed ones
    # asked for below (.10, .99) are free whatever the random draws
    net, _ = make_net(session, "10.81.0.0/24", pool=("10.81.0.100", "10.81.0.200"))
    existing = create(session, "ports", {"network_id": net["id"], "name": uid(),
                                         "fixed_ips": [{"ip_address": "10.81.0.10"}]})
    client = cloud.clients["network"]
    server = uid("srv")
    ports = client.allocate_for_server(ctx, server, "host-1", [
        {"port": existing["id"]}, {"uuid": net["id"], "fixed_ip": "10.81.0.99"}])
    assert {p["id"] for p in ports} >= {existing["id"]}
    assert "10.81.0.99" in [ip["ip_address"] for p in ports for ip in p["fixed_ips"]]
    client.deallocate_for_server(server)
    kept = session.get(f"{N}/ports/{existing['id']}").json()["port"]
    assert kept["device_id"] == "" and client.ports_for_server(server) == []

    other = uid("srv")
    with pytest.raises(ApiError) as err:
        client.allocate_for_server(ctx, other, "host-1", [{"uuid": net["id"]},
                                                          {"uuid": net["id"], "fixed_ip": "10.81.0.1"}])
    assert err.value.status == 409
    assert client.ports_for_server(other) == []  # the first port was rolled back
    with pytest.raises(ApiError) as err:
        client.allocate_for_server(ctx, other, "host-1", [{"uuid": "no-such-network"}])
    assert err.value.type == "NetworkNotFound"
    assert client.allocate_for_server(ctx, other, "host-1", "none") == []


def test_allocate_for_server_auto_ambiguous_is_409(cloud, project):
    session, ctx = project
    make_net(session, "10.82.0.0/24")
    make_net(session, "10.83.0.0/24")
    with pytest.raises(ApiError) as err:
        cloud.clients["network"].allocate_for_server(ctx, uid("srv"), "h", "auto")
    assert err.value.type == "NetworkAmbiguous"


def test_get_security_groups_by_name_and_id(cloud, project):
    session, ctx = project
    group = create(session, "security-groups", {"name": uid("web")})
    client = cloud.clients["network"]
    found = client.get_security_groups(ctx, ["default", group["name"], group["id"]])
    assert [g["name"] for g in found] == ["default", group["name"], group["name"]]
    with pytest.raises(ApiError) as err:
        client.get_security_groups(ctx, ["nope"])
    assert err.value.type == "SecurityGroupNotFound"


def test_notify_vifs_plugged_wakes_the_agent(cloud, project):
    session, ctx = project
    make_net(session, "10.84.0.0/24")
    client = cloud.clients["network"]
    agent = next(a for a in cloud.agents if a.name.startswith("network-agent"))
    server = uid("srv")
    ports = client.allocate_for_server(ctx, server, agent.state.host, "auto")
    client.notify_vifs_plugged([p["id"] for p in ports])
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.ports_for_server(server)[0]["status"] != "ACTIVE":
        time.sleep(0.02)
    assert client.ports_for_server(server)[0]["status"] == "ACTIVE"
    client.deallocate_for_server(server)


def test_allocate_for_server_puts_the_servers_security_groups_on_new_ports(cloud, project):
    session, ctx = project
    net, _ = make_net(session, "10.84.0.0/24")
    group = create(session, "security-groups", {"name": uid("sg")})
    client = cloud.clients["network"]
    server = uid("srv")
    (port,) = client.allocate_for_server(ctx, server, "h", [{"uuid": net["id"]}], security_groups=(group["name"],))
    assert port["security_groups"] == [group["id"]]
    client.deallocate_for_server(server)
    with pytest.raises(ApiError) as err:  # an unknown group: nothing is left behind
        client.allocate_for_server(ctx, server, "h", [{"uuid": net["id"]}, {"uuid": net["id"]}],
                                   security_groups=("no-such-group",))
    assert err.value.status == 404 and client.ports_for_server(server) == []
