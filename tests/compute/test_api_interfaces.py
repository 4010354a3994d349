"""os-interface on the fake guest driver with the session cloud's network service: attach by network
(with a fixed IP) or by port, list/show with tags per microversion, detach, addresses and instance
actions, and the 4xx/5xx answers Nova gives (a failed attach leaves no port or address behind)."""

from __future__ import annotations

import ipaddress
import time
import uuid

import pytest

from .conftest import IMAGE, C, boot, mv, wait_server

N = "/network/v2.0"
_BLOCK = iter(range(1, 250))


def poll(fetch, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"condition not met; last value: {value}"
        time.sleep(0.02)


@pytest.fixture
def networks(demo, uniq):
    """A network with one IPv4 subnet per call (each test its own CIDR); deleted afterwards."""
    made: list[str] = []

    def create() -> tuple[str, str]:
        resp = demo.post(f"{N}/networks", json={"network": {"name": uniq("ifnet")}})
        if resp.status_code == 404:
            pytest.skip("no network service in this cloud")
        net_id = resp.json()["network"]["id"]
        made.append(net_id)
        cidr = f"10.{90 + next(_BLOCK) // 250}.{next(_BLOCK)}.0/24"
        # ports without a fixed IP (the DHCP port's too) draw from .100-.200: the fixed addresses the tests ask
        # for (.7, .42) are free whatever the random draws
        prefix = cidr.rsplit(".", 1)[0]
        pool = [{"start": f"{prefix}.100", "end": f"{prefix}.200"}]
        sub = demo.post(f"{N}/subnets", json={"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4,
                                                         "allocation_pools": pool}})
        assert sub.status_code == 201, sub.text
        return net_id, cidr

    yield create
    for net_id in made:
        for port in demo.get(f"{N}/ports?network_id={net_id}").json()["ports"]:
            demo.delete(f"{N}/ports/{port['id']}")
        demo.delete(f"{N}/networks/{net_id}")


@pytest.fixture
def server(demo, uniq, networks):
    made: list[str] = []

    def create(**extra) -> dict:
        net_id, _ = networks()
        body = boot(demo, uniq("ifsrv"), networks=[{"uuid": net_id}], **extra)
        made.append(body["id"])
        assert body["status"] == "ACTIVE", body.get("fault")
        return body

    yield create
    for server_id in made:
        demo.delete(f"{C}/servers/{server_id}")
    for server_id in made:
        poll(lambda server_id=server_id: demo.get(f"{C}/servers/{server_id}").status_code, lambda s: s == 404)


def attach(session, server_id, version="2.100", **body):
    return session.post(f"{C}/servers/{server_id}/os-interface", json={"interfaceAttachment": body},
                        headers=mv(version))


def interfaces(session, server_id, version="2.100"):
    resp = session.get(f"{C}/servers/{server_id}/os-interface", headers=mv(version))
    assert resp.status_code == 200, resp.text
    return resp.json()["interfaceAttachments"]


def servers_ports(session, net_id):
    """The ports on the network that are not the network's own (DHCP)."""
    return [p for p in session.get(f"{N}/ports?network_id={net_id}").json()["ports"]
            if not p["device_owner"].startswith("network:")]


def actions(session, server_id, name):
    return [a for a in session.get(f"{C}/servers/{server_id}/os-instance-actions").json()["instanceActions"]
            if a["action"] == name]


def events(admin, server_id, request_id):
    return admin.get(f"{C}/servers/{server_id}/os-instance-actions/{request_id}",
                     headers=mv("2.51")).json()["instanceAction"]["events"]


def test_attach_by_network_list_show_detach_interface(demo, admin, server, networks):
    srv = server()
    net_id, cidr = networks()
    address = str(ipaddress.ip_network(cidr)[42])
    resp = attach(demo, srv["id"], net_id=net_id, fixed_ips=[{"ip_address": address}], tag="data")
    assert resp.status_code == 200, resp.text
    doc = resp.json()["interfaceAttachment"]
    # (the fake guest driver plugs no device, so the attach does not wait for the network agent's ACTIVE)
    assert doc["net_id"] == net_id and doc["tag"] == "data" and doc["port_state"] in ("ACTIVE", "DOWN")
    assert [ip["ip_address"] for ip in doc["fixed_ips"]] == [address] and doc["fixed_ips"][0]["subnet_id"]
    port = demo.get(f"{N}/ports/{doc['port_id']}").json()["port"]
    assert port["device_id"] == srv["id"] and port["device_owner"] == "compute:nova"
    assert port["mac_address"] == doc["mac_addr"]

    listed = poll(lambda: interfaces(demo, srv["id"]), lambda items: all(i["port_state"] == "ACTIVE" for i in items))
    doc["port_state"] = "ACTIVE"
    assert len(listed) == 2 and doc in listed
    assert all("tag" not in item for item in interfaces(demo, srv["id"], "2.69"))
    assert next(i for i in listed if i["port_id"] != doc["port_id"])["tag"] is None  # the boot port
    shown = demo.get(f"{C}/servers/{srv['id']}/os-interface/{doc['port_id']}", headers=mv("2.1")).json()
    assert shown["interfaceAttachment"] == {k: v for k, v in doc.items() if k != "tag"}
    addresses = demo.get(f"{C}/servers/{srv['id']}").json()["server"]["addresses"]
    assert address in [a["addr"] for addrs in addresses.values() for a in addrs]
    (action,) = actions(demo, srv["id"], "attach_interface")
    assert [(e["event"], e["result"]) for e in events(admin, srv["id"], action["request_id"])] == [
        ("compute_attach_interface", "Success")]

    resp = demo.delete(f"{C}/servers/{srv['id']}/os-interface/{doc['port_id']}")
    assert resp.status_code == 202, resp.text
    poll(lambda: interfaces(demo, srv["id"]), lambda items: len(items) == 1)
    assert demo.get(f"{N}/ports/{doc['port_id']}").status_code == 404  # made by compute: deleted
    addresses = poll(lambda: demo.get(f"{C}/servers/{srv['id']}").json()["server"]["addresses"],
                     lambda a: address not in [x["addr"] for xs in a.values() for x in xs])
    assert len(addresses) == 1
    (action,) = actions(demo, srv["id"], "detach_interface")
    assert [(e["event"], e["result"]) for e in events(admin, srv["id"], action["request_id"])] == [
        ("compute_detach_interface", "Success")]


def test_attach_existing_port_then_detach_unbinds_it(demo, server, networks):
    srv = server()
    net_id, _ = networks()
    port = demo.post(f"{N}/ports", json={"port": {"network_id": net_id, "name": "mine"}}).json()["port"]
    resp = attach(demo, srv["id"], "2.1", port_id=port["id"])
    assert resp.status_code == 200, resp.text
    assert "tag" not in resp.json()["interfaceAttachment"]
    assert resp.json()["interfaceAttachment"]["port_id"] == port["id"]
    bound = demo.get(f"{N}/ports?device_id={srv['id']}").json()["ports"]
    assert port["id"] in [p["id"] for p in bound]
    # the same port again, or on another server: in use
    assert attach(demo, srv["id"], port_id=port["id"]).status_code == 409
    assert demo.delete(f"{C}/servers/{srv['id']}/os-interface/{port['id']}").status_code == 202
    unbound = poll(lambda: demo.get(f"{N}/ports/{port['id']}").json()["port"], lambda p: not p["device_id"])
    assert unbound["device_owner"] == "" and unbound["name"] == "mine"  # the user's port stays
    assert port["id"] not in [i["port_id"] for i in interfaces(demo, srv["id"])]
    # a port given at boot can be detached too (and, made by compute, is deleted)
    (boot_port,) = interfaces(demo, srv["id"])
    assert demo.delete(f"{C}/servers/{srv['id']}/os-interface/{boot_port['port_id']}").status_code == 202
    poll(lambda: interfaces(demo, srv["id"]), lambda items: items == [])
    assert demo.get(f"{N}/ports/{boot_port['port_id']}").status_code == 404
    assert poll(lambda: demo.get(f"{C}/servers/{srv['id']}").json()["server"]["addresses"], lambda a: a == {}) == {}


def test_interface_requests_refused_as_nova(demo, admin, server, networks, uniq):
    srv = server()
    net_id, cidr = networks()
    other = server()
    unknown = str(uuid.uuid4())
    sid = srv["id"]
    assert attach(demo, sid, net_id=net_id, port_id=unknown).status_code == 400
    assert attach(demo, sid, fixed_ips=[{"ip_address": "10.0.0.9"}]).status_code == 400
    assert attach(demo, sid, net_id=net_id, fixed_ips=[{"ip_address": "nope"}]).status_code == 400
    assert attach(demo, sid, "2.48", net_id=net_id, tag="x").status_code == 400  # tag from 2.49
    assert attach(demo, sid, net_id=net_id, bogus=1).status_code == 400
    resp = attach(demo, sid)  # no network named: the project's only one, but it has several
    assert resp.status_code == 400 and "Multiple possible networks" in resp.json()["badRequest"]["message"]
    resp = attach(demo, sid, net_id=unknown)
    assert resp.status_code == 404 and "itemNotFound" in resp.json()
    assert attach(demo, sid, port_id=unknown).status_code == 404
    other_port = interfaces(demo, other["id"])[0]["port_id"]
    resp = attach(demo, sid, port_id=other_port)
    assert resp.status_code == 409 and "conflictingRequest" in resp.json()
    taken = str(ipaddress.ip_network(cidr)[7])
    assert attach(demo, sid, net_id=net_id, fixed_ips=[{"ip_address": taken}]).status_code == 200
    assert attach(demo, other["id"], net_id=net_id, fixed_ips=[{"ip_address": taken}]).status_code == 409
    assert attach(demo, sid, net_id=net_id, fixed_ips=[{"ip_address": "192.0.2.1"}]).status_code == 400
    assert demo.get(f"{C}/servers/{sid}/os-interface/{unknown}").status_code == 404
    assert demo.delete(f"{C}/servers/{sid}/os-interface/{unknown}").status_code == 404
    assert demo.delete(f"{C}/servers/{sid}/os-interface/{other_port}").status_code == 404
    assert demo.get(f"{C}/servers/{unknown}/os-interface").status_code == 404
    # the server's state forbids it: locked, then in error
    assert demo.post(f"{C}/servers/{sid}/action", json={"lock": None}).status_code == 202
    assert attach(demo, sid, net_id=net_id).status_code == 409
    assert demo.delete(f"{C}/servers/{sid}/os-interface/{other_port}").status_code == 409
    assert demo.post(f"{C}/servers/{sid}/action", json={"unlock": None}).status_code == 202
    assert admin.post(f"{C}/servers/{sid}/action", json={"os-resetState": {"state": "error"}}).status_code == 202
    resp = attach(demo, sid, net_id=net_id)
    assert resp.status_code == 409 and "vm_state error" in resp.json()["conflictingRequest"]["message"]
    assert len(interfaces(demo, sid)) == 2  # listing is still allowed
    # nothing was left behind by the refused requests: only the one accepted attach
    ports = servers_ports(demo, net_id)
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == [taken]


def test_attach_detach_paused_server_and_refused_when_suspended(demo, server, networks):
    srv = server()
    net_id, _ = networks()
    sid = srv["id"]
    assert demo.post(f"{C}/servers/{sid}/action", json={"pause": None}).status_code == 202
    assert wait_server(demo, sid)["status"] == "PAUSED"
    resp = attach(demo, sid, net_id=net_id)
    assert resp.status_code == 200, resp.text
    assert demo.delete(f"{C}/servers/{sid}/os-interface/{resp.json()['interfaceAttachment']['port_id']}"
                       ).status_code == 202
    poll(lambda: interfaces(demo, sid), lambda items: len(items) == 1)
    assert demo.post(f"{C}/servers/{sid}/action", json={"unpause": None}).status_code == 202
    assert wait_server(demo, sid)["status"] == "ACTIVE"
    assert demo.post(f"{C}/servers/{sid}/action", json={"suspend": None}).status_code == 202
    assert wait_server(demo, sid)["status"] == "SUSPENDED"
    resp = attach(demo, sid, net_id=net_id)
    assert resp.status_code == 409
    assert resp.json() == {"conflictingRequest": {
        "code": 409, "message": f"Cannot 'attach_interface' instance {sid} while it is in vm_state suspended"}}
    resp = demo.delete(f"{C}/servers/{sid}/os-interface/{interfaces(demo, sid)[0]['port_id']}")
    assert resp.status_code == 409 and "detach_interface" in resp.json()["conflictingRequest"]["message"]
    assert servers_ports(demo, net_id) == []


def test_attach_to_stopped_server(demo, server, networks):
    srv = server()
    net_id, _ = networks()
    assert demo.post(f"{C}/servers/{srv['id']}/action", json={"os-stop": None}).status_code == 202
    assert wait_server(demo, srv["id"])["status"] == "SHUTOFF"
    resp = attach(demo, srv["id"], net_id=net_id)
    assert resp.status_code == 200, resp.text
    assert len(interfaces(demo, srv["id"])) == 2


def test_failed_attach_leaves_no_port_or_address(demo, admin, server, networks):
    srv = server(metadata={"fake_fail": "attach_interface"})
    net_id, _ = networks()
    resp = attach(demo, srv["id"], net_id=net_id)
    assert resp.status_code == 500, resp.text
    assert "Failed to attach network adapter device" in resp.json()["computeFault"]["message"]
    assert servers_ports(demo, net_id) == []
    assert len(interfaces(demo, srv["id"])) == 1
    body = demo.get(f"{C}/servers/{srv['id']}").json()["server"]
    assert body["status"] == "ACTIVE" and len(body["addresses"]) == 1
    (action,) = actions(demo, srv["id"], "attach_interface")
    (event,) = events(admin, srv["id"], action["request_id"])
    assert event["event"] == "compute_attach_interface" and event["result"] == "Error"
    # a pre-existing port goes back unbound
    port = demo.post(f"{N}/ports", json={"port": {"network_id": net_id}}).json()["port"]
    assert attach(demo, srv["id"], port_id=port["id"]).status_code == 500
    assert demo.get(f"{N}/ports/{port['id']}").json()["port"]["device_id"] == ""


def test_deleted_server_keeps_no_interface_rows(demo, server, networks, cloud):
    from onestack.compute.model import VirtualInterface

    srv = server()
    net_id, _ = networks()
    assert attach(demo, srv["id"], net_id=net_id).status_code == 200
    assert demo.delete(f"{C}/servers/{srv['id']}").status_code == 204
    poll(lambda: demo.get(f"{C}/servers/{srv['id']}").status_code, lambda s: s == 404)
    assert servers_ports(demo, net_id) == []
    with cloud.uow() as uow:
        assert uow.session.query(VirtualInterface).filter_by(instance_id=srv["id"]).count() == 0


def test_attach_no_host_answers_is_500_after_vif_plugging_timeout_and_leaves_nothing(demo, server, networks, cloud,
                                                                                    monkeypatch):
    """The server's host agent never takes the request: the API gives up after [compute] vif_plugging_timeout
    (Nova's InterfaceAttachFailed, 500), withdraws the request and gives the port back; nothing is plugged
    later when an agent comes back."""
    import dataclasses

    from onestack.compute.model import Instance, VirtualInterface

    srv = server()
    net_id, _ = networks()
    compute = cloud.clients["compute"]
    monkeypatch.setattr(compute, "settings", dataclasses.replace(
        compute.settings, compute=dataclasses.replace(compute.settings.compute, vif_plugging_timeout=1)))
    with cloud.uow(write=True) as uow:
        row = uow.session.get(Instance, srv["id"])
        host, row.host = row.host, "host-without-agent"
    try:
        resp = attach(demo, srv["id"], net_id=net_id)
        assert resp.status_code == 500, resp.text
        message = resp.json()["computeFault"]["message"]
        assert "Failed to attach network adapter device" in message and "within 1 s" in message
        assert servers_ports(demo, net_id) == []
        with cloud.uow() as uow:
            assert [r.status for r in uow.session.query(VirtualInterface).filter_by(instance_id=srv["id"])
                    if r.status != "attached"] == []
    finally:
        with cloud.uow(write=True) as uow:
            uow.session.get(Instance, srv["id"]).host = host
    assert len(interfaces(demo, srv["id"])) == 1


def test_device_tags_kept_and_shown_in_interfaces_and_metadata(demo, http, cloud, networks, uniq):
    """networks[].tag at boot and the os-interface tag are kept with the port: os-interface shows them from
    2.70, the metadata service lists the tagged NICs (by MAC) in meta_data.json's devices."""
    from tests.compute.test_metadata import _headers

    net_a, _ = networks()
    net_b, _ = networks()
    for version in ("2.31", "2.37", "2.41"):  # a network's tag: 2.32-2.36 and from 2.42, as Nova's schemas
        resp = demo.post(f"{C}/servers", headers=mv(version), json={"server": {
            "name": uniq("untagged"), "imageRef": IMAGE[0], "flavorRef": "c1",
            "networks": [{"uuid": net_a, "tag": "nic-a"}]}})
        assert resp.status_code == 400 and "'tag' was unexpected" in resp.json()["badRequest"]["message"], version
    port = demo.post(f"{N}/ports", json={"port": {"network_id": net_b}}).json()["port"]
    srv = boot(demo, uniq("tagged"), version="2.42", networks=[
        {"uuid": net_a, "tag": "nic-a"}, {"port": port["id"], "tag": "nic-b"}, {"uuid": net_a}])
    try:
        assert srv["status"] == "ACTIVE", srv.get("fault")
        listed = interfaces(demo, srv["id"])
        by_tag = {i["tag"]: i for i in listed}
        assert sorted(by_tag, key=str) == sorted(["nic-a", "nic-b", None], key=str)
        assert by_tag["nic-b"]["port_id"] == port["id"] and by_tag["nic-a"]["net_id"] == net_a
        shown = demo.get(f"{C}/servers/{srv['id']}/os-interface/{port['id']}", headers=mv("2.70")).json()
        assert shown["interfaceAttachment"]["tag"] == "nic-b"
        resp = attach(demo, srv["id"], net_id=net_b, tag="hot")
        assert resp.status_code == 200, resp.text
        hot = resp.json()["interfaceAttachment"]
        meta = http.get("/metadata/openstack/latest/meta_data.json", headers=_headers(cloud, srv)).json()
        assert sorted((d["type"], d["mac"], d["tags"][0]) for d in meta["devices"]) == sorted([
            ("nic", by_tag["nic-a"]["mac_addr"], "nic-a"), ("nic", port["mac_address"], "nic-b"),
            ("nic", hot["mac_addr"], "hot")])
        # a detached port's tag goes with it
        assert demo.delete(f"{C}/servers/{srv['id']}/os-interface/{port['id']}").status_code == 202
        poll(lambda: interfaces(demo, srv["id"]), lambda items: len(items) == 3)
        meta = http.get("/metadata/openstack/latest/meta_data.json", headers=_headers(cloud, srv)).json()
        assert sorted(d["tags"][0] for d in meta["devices"]) == ["hot", "nic-a"]
    finally:
        demo.delete(f"{C}/servers/{srv['id']}")
        poll(lambda: demo.get(f"{C}/servers/{srv['id']}").status_code, lambda s: s == 404)


def test_add_and_remove_fixed_ip_actions(demo, admin, server, networks):
    """addFixedIp/removeFixedIp (multinic, removed at 2.44): 202, the server's port on the network gets one more
    address (then loses it), the addresses follow; Nova's 400/404 for what cannot be done."""
    srv = server()
    sid = srv["id"]
    (boot_port,) = interfaces(demo, sid)
    net_id = boot_port["net_id"]
    (first,) = [ip["ip_address"] for ip in boot_port["fixed_ips"]]

    def act(body, version="2.43"):
        return demo.post(f"{C}/servers/{sid}/action", json=body, headers=mv(version))

    def addresses():
        return sorted(a["addr"] for xs in demo.get(f"{C}/servers/{sid}").json()["server"]["addresses"].values()
                      for a in xs)

    assert act({"addFixedIp": {"networkId": net_id}}, "2.44").status_code == 404  # removed at 2.44
    resp = act({"addFixedIp": {"networkId": net_id}})
    assert resp.status_code == 202, resp.text
    assert resp.content == b""
    port = demo.get(f"{N}/ports/{boot_port['port_id']}").json()["port"]
    ips = [ip["ip_address"] for ip in port["fixed_ips"]]
    assert len(ips) == 2 and ips[0] == first
    poll(addresses, lambda a: a == sorted(ips))
    (action,) = actions(demo, sid, "addFixedIp")
    assert [(e["event"], e["result"]) for e in events(admin, sid, action["request_id"])] == [
        ("compute_add_fixed_ip_to_instance", "Success")]

    resp = act({"removeFixedIp": {"address": ips[1]}})
    assert resp.status_code == 202, resp.text
    port = demo.get(f"{N}/ports/{boot_port['port_id']}").json()["port"]
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == [first]
    poll(addresses, lambda a: a == [first])
    assert act({"removeFixedIp": {"address": ips[1]}}, "2.1").status_code == 400  # no longer the server's
    assert act({"removeFixedIp": {"address": "nope"}}).status_code == 400
    assert act({"removeFixedIp": {}}).status_code == 400
    assert act({"addFixedIp": {"networkId": net_id, "x": 1}}).status_code == 400
    other, _ = networks()
    resp = act({"addFixedIp": {"networkId": other}})  # the server has no port there
    assert resp.status_code == 404 and "itemNotFound" in resp.json()
    assert act({"removeFixedIp": {"address": first}}, "2.44").status_code == 404
    assert demo.post(f"{C}/servers/{sid}/action", json={"lock": None}).status_code == 202
    assert act({"addFixedIp": {"networkId": net_id}}).status_code == 409
    assert demo.post(f"{C}/servers/{sid}/action", json={"unlock": None}).status_code == 202


def test_attach_claimed_but_never_finished_becomes_a_detach_the_agent_carries_out(demo, server, networks, cloud,
                                                                                   monkeypatch):
    """An agent took the request (plugging) but never recorded an outcome: past vif_plugging_timeout and the
    grace the API answers 500 and turns the request into a detach; the host's agent, back, unplugs and gives
    the port back."""
    import dataclasses

    from onestack.compute.api import interfaces as api
    from onestack.compute.model import Instance, VirtualInterface
    from onestack.compute.service import interfaces as svc
    from onestack.compute.service.common import INSTANCE

    srv = server()
    net_id, _ = networks()
    compute = cloud.clients["compute"]
    monkeypatch.setattr(compute, "settings", dataclasses.replace(
        compute.settings, compute=dataclasses.replace(compute.settings.compute, vif_plugging_timeout=1)))
    monkeypatch.setattr(api, "WAIT_GRACE", 0.5)
    with cloud.uow(write=True) as uow:
        row = uow.session.get(Instance, srv["id"])
        host, row.host = row.host, "host-without-agent"
    request_attach = svc.request_attach

    def claimed_and_forgotten(uow, *args, **kwargs):  # an agent takes the request at once, then hangs
        row = request_attach(uow, *args, **kwargs)
        svc.claim_attach(uow, row.id)
        return row

    monkeypatch.setattr(svc, "request_attach", claimed_and_forgotten)
    try:
        resp = attach(demo, srv["id"], net_id=net_id)
        assert resp.status_code == 500, resp.text
        assert "within 1 s" in resp.json()["computeFault"]["message"]
        with cloud.uow() as uow:
            rows = uow.session.query(VirtualInterface).filter_by(instance_id=srv["id"]).all()
            assert [r.status for r in rows] == [svc.DETACHING]
        assert len(servers_ports(demo, net_id)) == 1  # still bound: the agent gives it back
    finally:
        monkeypatch.setattr(svc, "request_attach", request_attach)
        with cloud.uow(write=True) as uow:
            instance = uow.session.get(Instance, srv["id"])
            instance.host = host
            instance.revision += 1  # wakes the host's agent (as any change of the server would)
            uow.emit(INSTANCE, srv["id"])
    poll(lambda: servers_ports(demo, net_id), lambda ports: ports == [])

    def vif_rows() -> int:  # the agent gives the port back first, then drops the row: both, in time
        with cloud.uow() as uow:
            return uow.session.query(VirtualInterface).filter_by(instance_id=srv["id"]).count()

    poll(vif_rows, lambda count: count == 0)
    assert len(interfaces(demo, srv["id"])) == 1
