"""Port use cases below the API: which agents a port change wakes up."""

from __future__ import annotations

import pytest

from onestack import migrations
from onestack.core.bus import InProcessBus
from onestack.core.db import make_engine
from onestack.core.uow import UnitOfWorkFactory
from onestack.network.service import common
from onestack.network.service import networks as net_svc
from onestack.network.service import ports as port_svc
from onestack.network.service.common import TOPIC_FIREWALL, TOPIC_NETWORK, TOPIC_PORT, Caller, Limits

CALLER = Caller("project-events", False)
UNLIMITED = Limits(lambda resource, project: -1)


@pytest.fixture
def uow(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'events.db'}")
    migrations.upgrade(engine)
    yield UnitOfWorkFactory(engine, InProcessBus())
    engine.dispose()


@pytest.fixture
def heard(uow) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for topic in (TOPIC_NETWORK, TOPIC_PORT, TOPIC_FIREWALL):
        uow.bus.subscribe(topic, lambda t, k: out.append((t, k)))
    return out


def network(uow, dhcp: bool) -> str:
    net_id = common.write(uow, lambda u: net_svc.create_network(u, CALLER, UNLIMITED, net_svc.NetworkConfig(),
                                                                {"name": "n"}).id)
    common.write(uow, lambda u: net_svc.create_subnet(u, CALLER, UNLIMITED, {
        "network_id": net_id, "cidr": "10.74.0.0/24", "ip_version": 4, "enable_dhcp": dhcp}))
    return net_id


def create_port(uow, body: dict):
    return common.write(uow, lambda u: port_svc.create_port(u, Caller("", True), UNLIMITED, body))


def test_unbound_port_on_a_network_without_dhcp_wakes_only_the_firewall(uow, heard):
    net_id = network(uow, dhcp=False)
    heard.clear()
    create_port(uow, {"network_id": net_id, "project_id": CALLER.project_id})
    assert [t for t, _ in heard] == [TOPIC_FIREWALL]


def test_port_on_a_dhcp_network_wakes_the_network_reconciler(uow, heard):
    net_id = network(uow, dhcp=True)
    heard.clear()
    port = create_port(uow, {"network_id": net_id, "project_id": CALLER.project_id})
    assert (TOPIC_NETWORK, f"{net_id}/{port.id}") in heard  # only that port's entries


def test_bound_port_wakes_network_and_port_reconcilers(uow, heard):
    net_id = network(uow, dhcp=False)
    heard.clear()
    port = create_port(uow, {"network_id": net_id, "project_id": CALLER.project_id, "binding:host_id": "h1"})
    assert {(TOPIC_NETWORK, f"{net_id}/{port.id}"), (TOPIC_PORT, port.id), (TOPIC_FIREWALL, "all")} <= set(heard)
    heard.clear()
    common.write(uow, lambda u: port_svc.update_port(u, Caller("", True), port.id, {"binding:host_id": ""}))
    assert (TOPIC_NETWORK, f"{net_id}/{port.id}") in heard  # unbound: the host may no longer need the network


def test_dhcp_port_turned_into_a_plain_port_wakes_the_network_reconciler(uow, heard):
    net_id = network(uow, dhcp=False)
    port = create_port(uow, {"network_id": net_id, "project_id": CALLER.project_id, "device_owner": "network:dhcp"})
    heard.clear()
    common.write(uow, lambda u: port_svc.update_port(u, Caller("", True), port.id, {"device_owner": "compute:nova"}))
    assert (TOPIC_NETWORK, net_id) in heard
