"""What every network driver must do, whatever it is backed by: idempotent ensure/delete, and
``list_*`` reporting exactly what exists, so the agent can adopt and clean up after restarts."""

from __future__ import annotations

import threading
import uuid

import pytest

from onestack.network.drivers.base import (
    Address,
    DhcpHost,
    DhcpSpec,
    DhcpSubnet,
    FirewallPort,
    FirewallRule,
    FloatingIPSpec,
    NetworkDriver,
    NetworkSpec,
    PortSpec,
    RouterInterface,
    RouterSpec,
)


def _id() -> str:
    return uuid.uuid4().hex


def _listed(found: set[str], full_id: str) -> bool:
    return any(full_id.startswith(key) for key in found)


class NetworkDriverContract:
    """Subclasses provide a ``driver`` fixture (a ready NetworkDriver) and may set ``devices``
    (a callable creating a port device named ``devname``, for drivers with real devices)."""

    def make_device(self, driver, devname: str) -> None:
        return None

    def test_ensure_network_is_idempotent_and_listed(self, driver: NetworkDriver):
        spec = NetworkSpec(id=_id(), network_type="vxlan", segmentation_id=77, mtu=1450)
        driver.ensure_network(spec)
        driver.ensure_network(spec)
        assert _listed(driver.list_networks(), spec.id)
        driver.delete_network(spec.id)
        driver.delete_network(spec.id)
        assert not _listed(driver.list_networks(), spec.id)

    def test_ensure_port_reports_missing_device(self, driver: NetworkDriver):
        net = NetworkSpec(id=_id(), network_type="local", mtu=1500)
        driver.ensure_network(net)
        try:
            port_id = _id()
            devname = ("tap" + port_id)[:14]
            spec = PortSpec(port_id, net.id, devname, "fa:16:3e:00:00:01")
            if self.make_device(driver, devname) is None and getattr(driver, "devices_present", True) is False:
                assert driver.ensure_port(spec) is False
            else:
                assert driver.ensure_port(spec) is True
        finally:
            driver.delete_network(net.id)

    def test_watch_devices_reports_a_port_device_appearing(self, driver: NetworkDriver):
        if not driver.capabilities.device_events:
            pytest.skip("the driver does not report devices (the agent polls)")
        devname = ("tap" + _id())[:14]
        seen = threading.Event()
        driver.watch_devices(lambda name: name == devname and seen.set())
        self.make_device(driver, devname)
        assert seen.wait(10)

    def test_dhcp_and_router_lifecycle(self, driver: NetworkDriver):
        net = NetworkSpec(id=_id(), network_type="local", mtu=1500)
        ext = NetworkSpec(id=_id(), network_type="flat", physical_network="ext", mtu=1500,
                          gateway=(Address("172.30.99.1", 24),), nat_cidrs=("172.30.99.0/24",))
        driver.ensure_network(net)
        driver.ensure_network(ext)
        dhcp = DhcpSpec(network_id=net.id, port_id=_id(), mac="fa:16:3e:00:00:02",
                        addresses=(Address("10.99.0.2", 24),),
                        subnets=(DhcpSubnet(_id(), "10.99.0.0/24", "10.99.0.1", ("10.99.0.2",)),),
                        hosts=(DhcpHost("fa:16:3e:00:00:03", "10.99.0.5", "host-10-99-0-5"),))
        router = RouterSpec(id=_id(), interfaces=(RouterInterface(_id(), net.id, "fa:16:3e:00:00:04",
                                                                  (Address("10.99.0.1", 24),)),),
                            gateway=RouterInterface(_id(), ext.id, "fa:16:3e:00:00:05",
                                                    (Address("172.30.99.7", 24),)),
                            gateway_ip="172.30.99.1", floating_ips=(FloatingIPSpec("172.30.99.8", "10.99.0.5"),),
                            routes=(("192.168.99.0/24", "10.99.0.9"),))
        try:
            for _ in range(2):
                driver.ensure_dhcp(dhcp)
                driver.ensure_router(router)
            assert _listed(driver.list_dhcp(), net.id) and router.id in driver.list_routers()
            driver.ensure_router(RouterSpec(id=router.id, interfaces=router.interfaces))  # gateway removed
            driver.forget_neighbours(router.id, ("10.99.0.5", "fd00::5"))  # nothing cached: nothing to do
        finally:
            driver.delete_router(router.id)
            driver.delete_dhcp(net.id)
            driver.delete_network(net.id)
            driver.delete_network(ext.id)
        assert router.id not in driver.list_routers() and not _listed(driver.list_dhcp(), net.id)
        driver.forget_neighbours(router.id, ("10.99.0.5",))  # a router not (or no longer) here
        assert not _listed(driver.list_networks(), net.id) and not _listed(driver.list_networks(), ext.id)

    def test_apply_firewall_replaces_and_clears(self, driver: NetworkDriver):
        group = _id()
        rule = FirewallRule("ingress", "IPv4", "tcp", 22, 22)
        prefix = FirewallRule("ingress", "IPv6", None, None, None, remote_ip_prefix="fd00::5/128")
        remote4 = FirewallRule("ingress", "IPv4", "icmp", 8, 0, remote_group=group)
        remote6 = FirewallRule("egress", "IPv6", "udp", 53, 53, remote_group=group)
        port = FirewallPort(id=_id(), devname=("tap" + _id())[:14], mac="fa:16:3e:00:00:06",
                            ips=("10.99.0.5", "fd00::6"), rules=(rule, prefix, remote4, remote6),
                            allowed_pairs=(("10.99.0.100/32", "fa:16:3e:00:00:07"),))
        open_port = FirewallPort(id=_id(), devname=("tap" + _id())[:14], mac="fa:16:3e:00:00:08",
                                 ips=("10.99.0.9",), port_security=False)
        driver.apply_firewall((port, open_port), {group: ("10.99.0.5", "fd00::6")})
        driver.apply_firewall((port, open_port), {group: ("10.99.0.5", "10.99.0.7", "fd00::6")})  # members only
        driver.apply_firewall((port,), {group: ()})
        driver.apply_firewall(())
