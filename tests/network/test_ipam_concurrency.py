"""IPAM and MACs under 200 concurrent port creates, on every database: unique by constraint, not luck."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from onestack import migrations
from onestack.core.bus import InProcessBus
from onestack.core.db import make_engine
from onestack.core.testing.databases import available, throwaway_database
from onestack.core.uow import UnitOfWorkFactory
from onestack.network import model as m
from onestack.network.service import common
from onestack.network.service import networks as net_svc
from onestack.network.service import ports as port_svc
from onestack.network.service.common import Caller, Limits


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def uow(request, tmp_path):
    if request.param != "sqlite" and not available(request.param):
        pytest.skip(f"{request.param} is not reachable")
    with throwaway_database(request.param, str(tmp_path)) as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        try:
            yield UnitOfWorkFactory(engine, InProcessBus())
        finally:
            engine.dispose()


def test_create_port_200_concurrent_never_duplicates_ip_or_mac(uow):
    caller = Caller("project-ipam", False)
    limits = Limits()
    cfg = net_svc.NetworkConfig()
    net_id = common.write(uow, lambda u: net_svc.create_network(u, caller, limits, cfg, {"name": "n"}).id)
    common.write(uow, lambda u: net_svc.create_subnet(u, caller, limits, {
        "network_id": net_id, "cidr": "10.70.0.0/24", "ip_version": 4, "enable_dhcp": False}))
    common.write(uow, lambda u: net_svc.update_network(u, caller, net_id, {"port_security_enabled": False}))

    def create(_):
        return common.write(uow, lambda u: port_svc.create_port(u, caller, Limits(lambda r, p: -1),
                                                                {"network_id": net_id}).id)

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(create, range(200)))
    assert len(set(ids)) == 200
    with uow() as u:
        ips = list(u.session.scalars(select(m.IPAllocation.ip_address).where(m.IPAllocation.network_id == net_id)))
        macs = list(u.session.scalars(select(m.Port.mac_address).where(m.Port.network_id == net_id)))
        assert u.session.scalar(select(func.count()).select_from(m.Port)) == 200
    assert len(ips) == 200 and len(set(ips)) == 200
    assert len(set(macs)) == 200


def _race(uow, n: int, make) -> list[str]:
    """``make(uow, i)`` for i in range(n) from 12 threads, each in a write of its own: "ok" or the error's type."""
    def one(i):
        try:
            common.write(uow, lambda u: make(u, i))
            return "ok"
        except Exception as exc:  # noqa: BLE001
            return getattr(exc, "type", repr(exc))

    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(one, range(n)))


def test_create_network_quota_exact_under_concurrency(uow):
    caller = Caller("project-quota", False)
    limits = Limits(lambda resource, project: 10 if resource == "network" else -1)
    cfg = net_svc.NetworkConfig()

    results = _race(uow, 30, lambda u, i: net_svc.create_network(u, caller, limits, cfg, {"name": f"n{i}"}))
    assert results.count("ok") == 10 and results.count("OverQuota") == 20


def test_create_port_quota_exact_under_concurrency(uow):
    caller = Caller("project-port-quota", False)
    unlimited = Limits(lambda resource, project: -1)
    net_id = common.write(uow, lambda u: net_svc.create_network(u, caller, unlimited, net_svc.NetworkConfig(),
                                                                {"name": "n"}).id)
    common.write(uow, lambda u: net_svc.create_subnet(u, caller, unlimited, {
        "network_id": net_id, "cidr": "10.75.0.0/24", "ip_version": 4, "enable_dhcp": False}))
    limits = Limits(lambda resource, project: 10 if resource == "port" else -1)

    results = _race(uow, 30, lambda u, _i: port_svc.create_port(u, caller, limits, {"network_id": net_id}))
    assert results.count("ok") == 10 and results.count("OverQuota") == 20


def test_list_ports_records_render_like_the_orm_rows_on_every_database(uow):
    from onestack.network.views import ports as views

    caller, limits = Caller("project-list", True), Limits(lambda r, p: -1)
    net_id = common.write(uow, lambda u: net_svc.create_network(u, caller, limits, net_svc.NetworkConfig(),
                                                                {"name": "n"}).id)
    common.write(uow, lambda u: net_svc.create_subnet(u, caller, limits, {
        "network_id": net_id, "cidr": "10.74.0.0/24", "ip_version": 4, "enable_dhcp": False}))
    for body in ({"tags": ["x", "a"], "binding:profile": {"k": 1}, "allowed_address_pairs": [
            {"ip_address": "10.74.0.99"}]}, {}, {}):
        common.write(uow, lambda u, body=body: port_svc.create_port(u, caller, limits, {"network_id": net_id,
                                                                                       **body}))
    with uow() as u:
        rows, _ = port_svc.list_ports(u, caller, {"network_id": [net_id]})
        assert [views.port(r) for r in rows] == [views.port(port_svc.get_port(u, caller, r.id)) for r in rows]
        assert len(rows) == 3 and rows[0].tags == ["a", "x"] and rows[0].profile == {"k": 1}
