"""The network data-plane driver interface: the agent hands it frozen descriptions of what should
exist on this host and it makes the kernel match, idempotently.  ``list_*`` report what exists (by
the ids the objects were created for, possibly truncated to fit device names) so the agent can
remove what is no longer wanted."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Address:
    ip: str
    prefixlen: int


@dataclass(frozen=True)
class NetworkSpec:
    id: str
    network_type: str  # vxlan | flat | local
    segmentation_id: int | None = None
    physical_network: str | None = None
    mtu: int = 1500
    peers: tuple[str, ...] = ()  # VXLAN underlay addresses of the other hosts
    uplink: str | None = None  # host interface enslaved to a flat network's bridge
    gateway: tuple[Address, ...] = ()  # external networks: the host's address on the bridge (NAT out)
    nat_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortSpec:
    id: str
    network_id: str
    devname: str
    mac: str
    mtu: int = 1500


@dataclass(frozen=True)
class DhcpSubnet:
    id: str
    cidr: str
    gateway_ip: str | None
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()
    ipv6_address_mode: str | None = None  # IPv6: dhcpv6-stateful (addresses) | dhcpv6-stateless (options)


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    ip: str
    hostname: str


@dataclass(frozen=True)
class DhcpSpec:
    network_id: str
    port_id: str
    mac: str
    addresses: tuple[Address, ...]
    subnets: tuple[DhcpSubnet, ...]
    hosts: tuple[DhcpHost, ...]
    mtu: int = 1500
    domain: str = "openstacklocal"


@dataclass(frozen=True)
class RouterAdvertisement:
    """An IPv6 prefix the router advertises on an interface (the subnet's ``ipv6_ra_mode``)."""

    prefix: str
    mode: str  # slaac | dhcpv6-stateless | dhcpv6-stateful
    dns_nameservers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouterInterface:
    port_id: str
    network_id: str
    mac: str
    addresses: tuple[Address, ...]
    mtu: int = 1500
    advertisements: tuple[RouterAdvertisement, ...] = ()


@dataclass(frozen=True)
class FloatingIPSpec:
    floating_ip: str
    fixed_ip: str


@dataclass(frozen=True)
class MetadataTarget:
    ip: str
    instance_id: str
    project_id: str


@dataclass(frozen=True)
class RouterSpec:
    id: str
    interfaces: tuple[RouterInterface, ...] = ()
    gateway: RouterInterface | None = None
    gateway_ip: str | None = None  # the external subnet's gateway (default route)
    enable_snat: bool = True
    routes: tuple[tuple[str, str], ...] = ()
    floating_ips: tuple[FloatingIPSpec, ...] = ()
    metadata: tuple[MetadataTarget, ...] = ()


@dataclass(frozen=True)
class FirewallRule:
    direction: str  # ingress | egress
    ethertype: str  # IPv4 | IPv6
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group: str | None = None  # a security group id: its members' addresses, see apply_firewall


@dataclass(frozen=True)
class FirewallPort:
    id: str
    devname: str
    mac: str
    ips: tuple[str, ...]
    port_security: bool = True
    allowed_pairs: tuple[tuple[str, str], ...] = ()  # (ip or cidr, mac)
    rules: tuple[FirewallRule, ...] = ()
    stateful: bool = True


@dataclass
class Capabilities:
    stateful_security_groups: bool = True
    vxlan: bool = True
    network_types: tuple[str, ...] = ("vxlan", "flat", "local")
    device_events: bool = False  # watch_devices reports devices as they appear (else the agent polls)
    extra: dict = field(default_factory=dict)


class NetworkDriver(ABC):
    capabilities = Capabilities()

    def setup(self) -> None:
        """Host-wide preparation (sysctls, firewall hooks); idempotent."""
        return None

    def close(self) -> None:
        """Stop helper processes this driver started (kernel state stays, a restart adopts it)."""
        return None

    def watch_devices(self, appeared: Callable[[str | None], None]) -> None:
        """With ``capabilities.device_events``: from now until ``close``, call ``appeared(name)`` (on a thread
        of the driver's) when a network device appears or changes on this host, and ``appeared(None)`` when
        some may have gone unreported; a port check then follows its device at once instead of polling."""
        return None

    @abstractmethod
    def ensure_network(self, spec: NetworkSpec) -> None: ...

    @abstractmethod
    def delete_network(self, network_id: str) -> None: ...

    @abstractmethod
    def list_networks(self) -> set[str]: ...

    @abstractmethod
    def ensure_port(self, spec: PortSpec) -> bool:
        """Attach the port's device to its network's bridge; False while the device does not exist."""

    @abstractmethod
    def ensure_dhcp(self, spec: DhcpSpec) -> None: ...

    @abstractmethod
    def delete_dhcp(self, network_id: str) -> None: ...

    @abstractmethod
    def list_dhcp(self) -> set[str]: ...

    @abstractmethod
    def ensure_router(self, spec: RouterSpec) -> None: ...

    @abstractmethod
    def delete_router(self, router_id: str) -> None: ...

    @abstractmethod
    def list_routers(self) -> set[str]: ...

    @abstractmethod
    def forget_neighbours(self, router_id: str, ips: tuple[str, ...]) -> None:
        """Drop what the router has cached of these addresses' link-layer addresses (ARP/NDP): they were
        released and may come back on another MAC.  Nothing to do for a router not on this host."""

    @abstractmethod
    def apply_firewall(self, ports: tuple[FirewallPort, ...],
                       groups: dict[str, tuple[str, ...]] | None = None) -> None:
        """Make the security-group ruleset of this host the one for ``ports``; ``groups`` maps the
        security groups the rules name as ``remote_group`` to their members' addresses (kept as
        sets, so a membership change updates a set, not the rules)."""
