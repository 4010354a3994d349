"""A fake data plane: remembers what it was asked to build, in memory."""

from __future__ import annotations

import threading

from .base import DhcpSpec, FirewallPort, NetworkDriver, NetworkSpec, PortSpec, RouterSpec


class FakeNetworkDriver(NetworkDriver):
    def __init__(self, devices_present: bool = True) -> None:
        self.networks: dict[str, NetworkSpec] = {}
        self.ports: dict[str, PortSpec] = {}
        self.dhcp: dict[str, DhcpSpec] = {}
        self.routers: dict[str, RouterSpec] = {}
        self.firewall: tuple[FirewallPort, ...] = ()
        self.firewall_groups: dict[str, tuple[str, ...]] = {}
        self.forgotten: list[tuple[str, tuple[str, ...]]] = []  # (router id, addresses) per forget_neighbours
        self.devices_present = devices_present
        self.lock = threading.Lock()

    def ensure_network(self, spec: NetworkSpec) -> None:
        with self.lock:
            self.networks[spec.id] = spec

    def delete_network(self, network_id: str) -> None:
        with self.lock:
            self.networks.pop(network_id, None)
            for pid in [p for p, s in self.ports.items() if s.network_id == network_id]:
                del self.ports[pid]

    def list_networks(self) -> set[str]:
        with self.lock:
            return set(self.networks)

    def ensure_port(self, spec: PortSpec) -> bool:
        with self.lock:
            if not self.devices_present:
                return False
            self.ports[spec.id] = spec
            return True

    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        with self.lock:
            self.dhcp[spec.network_id] = spec

    def delete_dhcp(self, network_id: str) -> None:
        with self.lock:
            self.dhcp.pop(network_id, None)

    def list_dhcp(self) -> set[str]:
        with self.lock:
            return set(self.dhcp)

    def ensure_router(self, spec: RouterSpec) -> None:
        with self.lock:
            self.routers[spec.id] = spec

    def delete_router(self, router_id: str) -> None:
        with self.lock:
            self.routers.pop(router_id, None)

    def list_routers(self) -> set[str]:
        with self.lock:
            return set(self.routers)

    def forget_neighbours(self, router_id: str, ips: tuple[str, ...]) -> None:
        with self.lock:
            self.forgotten.append((router_id, ips))

    def apply_firewall(self, ports: tuple[FirewallPort, ...],
                       groups: dict[str, tuple[str, ...]] | None = None) -> None:
        with self.lock:
            self.firewall = ports
            self.firewall_groups = dict(groups or {})
