"""IPAM, MAC and VNI allocation: probes by index, constraints settle clashes, exhaustion is an error."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from onestack import migrations
from onestack.core.bus import InProcessBus
from onestack.core.db import make_engine
from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWorkFactory
from onestack.network import model as m
from onestack.network.service import common, ipam
from onestack.network.service import networks as net_svc
from onestack.network.service import ports as port_svc
from onestack.network.service.common import Caller, Limits

CALLER = Caller("project-ipam", False)
UNLIMITED = Limits(lambda resource, project: -1)


@pytest.fixture
def uow(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ipam.db'}")
    migrations.upgrade(engine)
    yield UnitOfWorkFactory(engine, InProcessBus())
    engine.dispose()


def network(uow, cidr: str, cfg: net_svc.NetworkConfig | None = None) -> str:
    cfg = cfg or net_svc.NetworkConfig()
    net_id = common.write(uow, lambda u: net_svc.create_network(u, CALLER, UNLIMITED, cfg, {"name": "n"}).id)
    common.write(uow, lambda u: net_svc.create_subnet(u, CALLER, UNLIMITED, {
        "network_id": net_id, "cidr": cidr, "ip_version": 4, "enable_dhcp": False}))
    return net_id


def port(uow, net_id: str, **body) -> m.Port:
    return common.write(uow, lambda u: port_svc.create_port(u, CALLER, UNLIMITED, {"network_id": net_id, **body}))


def test_allocate_fills_a_small_pool_exactly_then_reports_exhaustion(uow):
    net_id = network(uow, "10.71.0.0/28")  # 13 addresses after the gateway
    ips = [port(uow, net_id).fixed_ips[0].ip_address for _ in range(13)]
    assert len(set(ips)) == 13
    with pytest.raises(Conflict) as err:
        port(uow, net_id)
    assert err.value.type == "IpAddressGenerationFailure"


def test_allocate_in_a_large_pool_probes_by_index_without_reading_the_allocations(uow):
    net_id = network(uow, "10.72.0.0/16")
    for _ in range(50):
        port(uow, net_id)
    selects: list[str] = []

    def seen(conn, cursor, statement, params, context, executemany):
        if statement.startswith("SELECT") and "network_ip_allocations" in statement:
            selects.append(statement)

    event.listen(uow.engine, "before_cursor_execute", seen)
    try:
        with uow() as u:
            subnet = u.session.scalars(select(m.Subnet).where(m.Subnet.network_id == net_id)).one()
            ip = ipam.allocate(u, subnet)
    finally:
        event.remove(uow.engine, "before_cursor_execute", seen)
    assert ip.startswith("10.72.")
    assert len(selects) == 1 and " IN " in selects[0]


def test_generated_mac_clash_is_settled_by_the_constraint_and_a_retry(uow, monkeypatch):
    net_id = network(uow, "10.73.0.0/24")
    first = port(uow, net_id)
    macs = iter([first.mac_address, "fa:16:3e:00:00:01"])
    monkeypatch.setattr(ipam, "random_mac", lambda: next(macs))
    second = port(uow, net_id)
    assert second.mac_address == "fa:16:3e:00:00:01"


def test_vni_allocation_uses_the_whole_range_then_reports_no_network_available(uow):
    cfg = net_svc.NetworkConfig(vxlan_ranges=((7, 9),))
    vnis = {common.write(uow, lambda u: net_svc.create_network(u, CALLER, UNLIMITED, cfg, {"name": "n"})
                         ).segmentation_id for _ in range(3)}
    assert vnis == {7, 8, 9}
    with pytest.raises(Conflict) as err:
        common.write(uow, lambda u: net_svc.create_network(u, CALLER, UNLIMITED, cfg, {"name": "n"}))
    assert err.value.type == "NoNetworkAvailable"
