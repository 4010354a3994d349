"""The network agent: converges this host's kernel state (bridges, VXLAN, DHCP, routers, security
groups) from the database through a driver.

Reconcilers (keys arrive on the bus after every API change, and from a periodic full resync):

- ``network.network`` (network id): the network's bridge (+ VXLAN device with its peers, or a flat
  uplink / external gateway) when this host needs it, and its DHCP server on DHCP agents; removes
  both for networks that are gone or no longer needed here.  ``<network id>/<port id>`` (a port of it
  changed): only that port's DHCP/DNS entries and released addresses, from what the last full reconcile
  left (the first look after start, the resync and network/subnet changes are full ones).
- ``network.port`` (port id): ports bound to this host: attach the device compute created to the
  bridge, then report ``ACTIVE`` once the port's rules are in and its DHCP entry is served (both are
  applied when the port is bound, before its device exists, so a plugged port is usually ready at its
  first check).  ``DOWN`` while the device is missing: the check runs again when the driver reports
  the device (``device_events``; else a quick retry) or compute says it plugged it; a plugged port
  still waiting is woken by the firewall or DHCP step that brings what it waits for.
- ``network.port.plugged`` (port id): compute's notice that it (re)created the port's device: a port
  this agent reported ACTIVE has the driver confirm (or re-attach) its device; others get a port check.
- ``network.router`` (router id): on L3 agents, the router namespace with its interfaces, gateway,
  SNAT, floating IPs, extra routes and metadata proxy; removes routers that are gone.
- ``network.firewall`` (``all``): the security-group ruleset of this host, in one atomic step that
  touches only the ports whose rules, addresses or groups changed (and the remote groups' member sets).

On L3 hosts the network reconciler also has the routers forget the neighbour (ARP/NDP) entries of
addresses released since its last look, so a port reusing one is reachable at once.

The agent records itself (host, tunnel address, roles) in ``network_agents``; VXLAN peers are the
other agents' tunnel addresses.  Restarting rebuilds the view from the kernel (``list_*``) and the
database; what is kept in memory (what was last applied, to skip or narrow the next step) is a cache
a restart starts without.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.db import utcnow
from onestack.core.reconcile import Agent, Requeue
from onestack.core.uow import UnitOfWorkFactory

from . import model as m
from .drivers.base import (
    Address,
    DhcpHost,
    DhcpSpec,
    DhcpSubnet,
    FirewallPort,
    FirewallRule,
    FloatingIPSpec,
    MetadataTarget,
    NetworkDriver,
    NetworkSpec,
    PortSpec,
    RouterAdvertisement,
    RouterInterface,
    RouterSpec,
)
from .service.common import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_GW,
    DEVICE_OWNER_ROUTER_INTF,
    TOPIC_FIREWALL,
    TOPIC_NETWORK,
    TOPIC_PORT,
    TOPIC_PORT_PLUGGED,
    TOPIC_PORT_STATUS,
    TOPIC_ROUTER,
)
from .service.networks import serves_dhcp
from .views.ports import devname, kernel_prefix

log = logging.getLogger(__name__)


# the network reconciler (every change of a network, every port event on it) builds a network it knows built
# from the same spec again only this often: the periodic resync (30 s) then repairs what went behind its back
NETWORK_RECHECK_SECONDS = 25.0


def metadata_secret(settings: Settings) -> str:
    if settings.network.metadata_secret:
        return settings.network.metadata_secret
    path = settings.data_path / "metadata-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def sign_instance_id(secret: str, instance_id: str) -> str:
    """``X-Instance-ID-Signature``, as Neutron's metadata proxy computes it."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def make_driver(settings: Settings, driver_name: str) -> NetworkDriver:
    if driver_name == "fake":
        from .drivers.fake import FakeNetworkDriver

        return FakeNetworkDriver()
    if driver_name == "linux":
        from .drivers.linux import LinuxNetworkDriver

        ns = settings.network
        mappings = dict(p.split(":", 1) for p in ns.bridge_mappings.split(",") if ":" in p)
        return LinuxNetworkDriver(
            prefix=kernel_prefix(settings), state_dir=str(settings.data_path / "network"),
            host_netns=ns.host_netns or None, tunnel_ip=ns.tunnel_ip or None, tunnel_dev=ns.tunnel_dev or None,
            bridge_mappings=mappings,
            metadata_url=ns.metadata_url or f"{settings.server.base_url}/metadata",
            metadata_secret=metadata_secret(settings))
    raise ValueError(f"unknown network driver {driver_name!r} (known: fake, linux)")


def _prefixlen(cidr: str) -> int:
    return ipaddress.ip_network(cidr).prefixlen


class _Base:
    def __init__(self, agent: NetworkAgentState) -> None:
        self.state = agent

    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.state.uow

    @property
    def driver(self) -> NetworkDriver:
        return self.state.driver


class NetworkAgentState:
    """What the reconcilers share: who this host is and how to describe desired state."""

    def __init__(self, uow: UnitOfWorkFactory, driver: NetworkDriver, host: str, tunnel_ip: str = "",
                 dhcp: bool = True, l3: bool = True, external_gateway: bool = True, prefix: str = "o") -> None:
        self.uow = uow
        self.prefix = prefix  # the kernel object prefix: port devices are named devname(port, prefix)
        self.driver = driver
        self.host = host
        self.tunnel_ip = tunnel_ip
        self.dhcp = dhcp
        self.l3 = l3
        self.external_gateway = external_gateway
        # what the kernel has for ports, so a port is reported ACTIVE (compute then starts the guest) only
        # once its security groups are applied and its DHCP host entry is served
        self.firewalled: frozenset[str] = frozenset()  # port ids in the last applied ruleset
        self.dhcp_served: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # net -> (subnet ids, MACs)
        # networks whose bridge this agent has built, with the spec it built them from: a port check
        # (every port event, every retry while a device is missing) needs no driver work for them.  The
        # network reconciler, which runs on every change of a network and on the periodic resync,
        # refreshes an entry or drops it with the network; a failed port check drops it too.
        self.networks_ensured: dict[str, NetworkSpec] = {}
        self.networks_checked: dict[str, float] = {}  # when the driver last built each of them
        self.network_lock = threading.Lock()  # building a network on a cache miss vs removing it
        # L3: the address -> MAC of every port of the networks with a router interface here, as of the last
        # network reconcile: an address gone or on another MAC since is dropped from the routers' neighbour
        # caches (a server booting with a deleted server's address would otherwise be unreachable from the
        # router until the stale entry expired, up to ~30 s)
        self.addresses: dict[str, dict[str, str]] = {}
        # ports whose device is plugged but that wait for their rules or DHCP entry (id -> network id, MAC):
        # the firewall and network reconcilers wake these (not every port they touch) once they have them
        self.plugged_waiting: dict[str, tuple[str, str]] = {}
        # how a reconciler wakes this agent's port checks: straight into the agent's own work queue (set by
        # NetworkAgent; a hint for this agent alone needs no outbox row and no transaction)
        self.wake_port: Callable[[str], None] | None = None
        # device name -> port id of ports whose device is not there yet: with a driver reporting devices as
        # they appear, a port check follows its device at once (no polling while compute builds the guest)
        self.awaiting_devices: dict[str, str] = {}
        # ports this agent's last check found plugged and reported ACTIVE, with their spec: compute's plug
        # notice for one of them only has the driver confirm its device is still the one attached
        self.active_ports: dict[str, PortSpec] = {}
        self._needs_q = None  # needs_network's statement (built once: it depends on the roles)

    def device_appeared(self, name: str | None) -> None:
        """From the driver's watch (its thread): a device appeared or changed; None: some may have, unseen."""
        if name is None:
            self.wake_ports(set(self.awaiting_devices.values()))
            return
        port_id = self.awaiting_devices.pop(name, None)  # one wake: the check registers it again if need be
        if port_id is not None:
            self.wake_ports((port_id,))

    def wake_ports(self, port_ids: Iterable[str]) -> None:
        port_ids = sorted(port_ids)
        if not port_ids:
            return
        if self.wake_port is not None:
            for port_id in port_ids:
                self.wake_port(port_id)
            return
        with self.uow(write=True) as uow:
            for port_id in port_ids:
                uow.emit(TOPIC_PORT, port_id)

    def port_converged(self, port_id: str, network_id: str, mac: str, subnet_ids) -> bool:
        """``subnet_ids``: a callable giving the port's subnets (asked only when the DHCP view needs them)."""
        if port_id not in self.firewalled:
            return False
        subnets, macs = self.dhcp_served.get(network_id, (frozenset(), frozenset()))
        return mac in macs or not subnets or not any(sid in subnets for sid in subnet_ids())

    def register(self) -> None:
        with self.uow(write=True) as uow:
            row = uow.session.get(m.Agent, self.host)
            if row is None:
                row = m.Agent(host=self.host)
                uow.session.add(row)
            row.tunnel_ip, row.dhcp, row.l3, row.heartbeat_at = self.tunnel_ip, self.dhcp, self.l3, utcnow()

    # -- what this host needs ------------------------------------------------------------------

    def _needing(self):
        """Ports that make a network needed on this host: bound here, or served by its DHCP/L3 roles."""
        owners = ([DEVICE_OWNER_DHCP] if self.dhcp else []) + \
            ([DEVICE_OWNER_ROUTER_INTF, DEVICE_OWNER_ROUTER_GW] if self.l3 else [])
        here = (m.Port.host_id == self.host) & ~m.Port.device_owner.like("network:%")
        return or_(here, m.Port.device_owner.in_(owners)) if owners else here

    def needed_networks(self, uow) -> set[str]:
        return set(uow.session.scalars(select(m.Port.network_id).where(self._needing()).distinct()))

    def needs_network(self, uow, network_id: str) -> bool:
        """One indexed lookup (a network reconcile runs after every port change on it): a prebuilt Core
        statement on the connection (``uow``: a unit of work or a bare read connection)."""
        if self._needs_q is None:
            self._needs_q = select(_PORTS.c.id).where(
                _PORTS.c.network_id == bindparam("network_id"), self._needing()).limit(1)
        conn = uow if isinstance(uow, Connection) else uow.session.connection()
        return conn.execute(self._needs_q, {"network_id": network_id}).first() is not None

    def network_spec(self, uow, net: NetRow) -> NetworkSpec:
        peers: tuple[str, ...] = ()
        if net.network_type == "vxlan":
            peers = tuple(sorted(t for t in uow.session.connection().execute(
                _PEERS, {"host": self.host}).scalars() if t))
        gateway: tuple[Address, ...] = ()
        nat: tuple[str, ...] = ()
        if net.external and self.l3 and self.external_gateway:
            gateway = tuple(Address(s.gateway_ip, _prefixlen(s.cidr)) for s in net.subnets
                            if s.gateway_ip and s.ip_version == 4)
            nat = tuple(s.cidr for s in net.subnets if s.ip_version == 4)
        return NetworkSpec(id=net.id, network_type=net.network_type, segmentation_id=net.segmentation_id,
                           physical_network=net.physical_network, mtu=net.mtu, peers=peers,
                           gateway=gateway, nat_cidrs=nat)

    def ensure_network(self, network_id: str) -> NetworkSpec | None:
        """The network's bridge on this host, built unless already known built; its spec (None: no such
        network).  The network is looked at in a unit of work of its own, under the lock ``remove_network``
        takes: what the caller read may predate the network's last port going, and building it then would
        leave a bridge no one removes."""
        spec = self.networks_ensured.get(network_id)
        if spec is not None:
            return spec
        with self.network_lock, self.uow() as fresh:
            spec = self.networks_ensured.get(network_id)
            if spec is not None:
                return spec
            net = load_network(fresh, network_id)
            if net is None:
                return None
            if not self.needs_network(fresh, network_id):
                return self.network_spec(fresh, net)  # on its way out here: not built again
            return self.apply_network(fresh, net)

    def remove_network(self, network_id: str) -> None:
        """The network's bridge gone from this host, unless a port needing it arrived meanwhile (its
        events bring the network reconciler back)."""
        with self.network_lock, self.uow() as fresh:
            if self.needs_network(fresh, network_id):
                return
            self.networks_ensured.pop(network_id, None)
            self.networks_checked.pop(network_id, None)
            self.driver.delete_network(network_id)

    def apply_network(self, uow, net: NetRow, recheck_after: float = 0.0) -> NetworkSpec:
        """The network built from its spec; with ``recheck_after``, not again when built from the same spec
        less than that many seconds ago."""
        spec = self.network_spec(uow, net)
        now = time.monotonic()
        if recheck_after and self.networks_ensured.get(net.id) == spec and \
                now - self.networks_checked.get(net.id, 0.0) < recheck_after:
            return spec
        self.driver.ensure_network(spec)
        self.networks_ensured[net.id] = spec
        self.networks_checked[net.id] = now
        return spec


_NETS = m.Network.__table__
_PORTS = m.Port.__table__
_SUBNETS = m.Subnet.__table__
_ALLOCS = m.IPAllocation.__table__
_NET_COLS = (_NETS.c.id, _NETS.c.network_type, _NETS.c.segmentation_id, _NETS.c.physical_network, _NETS.c.mtu,
             _NETS.c.external, _NETS.c.dns_domain)
_NETWORK = select(*_NET_COLS).where(_NETS.c.id == bindparam("id"))
_NETWORK_LIKE = select(*_NET_COLS).where(_NETS.c.id.like(bindparam("pattern"))).limit(1)
_NETWORK_SUBNETS = select(
    _SUBNETS.c.id, _SUBNETS.c.ip_version, _SUBNETS.c.cidr, _SUBNETS.c.gateway_ip, _SUBNETS.c.enable_dhcp,
    _SUBNETS.c.ipv6_ra_mode, _SUBNETS.c.ipv6_address_mode, _SUBNETS.c.dns_nameservers, _SUBNETS.c.host_routes,
).where(_SUBNETS.c.network_id == bindparam("id")).order_by(_SUBNETS.c.created_at)  # as Network.subnets
_PEERS = select(m.Agent.__table__.c.tunnel_ip).where(
    m.Agent.__table__.c.host != bindparam("host"), m.Agent.__table__.c.tunnel_ip != "")
_ROUTERS_ON = select(_PORTS.c.device_id).where(
    _PORTS.c.network_id == bindparam("network_id"),
    _PORTS.c.device_owner.in_([DEVICE_OWNER_ROUTER_INTF, DEVICE_OWNER_ROUTER_GW]),
    _PORTS.c.device_id != "").distinct()
# every address of the network with its port (the DHCP leases and the routers' neighbours, in one read)
_ADDRESSES = select(_ALLOCS.c.ip_address, _PORTS.c.mac_address, _ALLOCS.c.subnet_id, _PORTS.c.id).join(
    _PORTS, _PORTS.c.id == _ALLOCS.c.port_id).where(_ALLOCS.c.network_id == bindparam("network_id"))
_DHCP_PORT = select(_PORTS.c.id, _PORTS.c.mac_address).where(
    _PORTS.c.network_id == bindparam("network_id"), _PORTS.c.device_owner == DEVICE_OWNER_DHCP).limit(1)
_OWN_ADDRESSES = select(_ALLOCS.c.subnet_id, _ALLOCS.c.ip_address).where(
    _ALLOCS.c.port_id == bindparam("port_id")).order_by(_ALLOCS.c.ip_order, _ALLOCS.c.id)


@dataclass(frozen=True, slots=True)
class NetRow:
    """What the agent reads of a network: its columns and its subnets' (Core rows, not ORM objects)."""

    id: str
    network_type: str
    segmentation_id: int | None
    physical_network: str | None
    mtu: int
    external: bool
    dns_domain: str
    subnets: tuple


def load_network(uow, network_id: str) -> NetRow | None:
    conn = uow.session.connection()
    row = conn.execute(_NETWORK, {"id": network_id}).first()
    return None if row is None else NetRow(*row, subnets=tuple(conn.execute(_NETWORK_SUBNETS, {"id": row.id})))


def _find_network(uow, key: str) -> NetRow | None:
    net = load_network(uow, key)
    if net is None and len(key) < 32:
        row = uow.session.connection().execute(_NETWORK_LIKE, {"pattern": f"{key}%"}).first()
        net = load_network(uow, row.id) if row is not None else None
    return net


@dataclass(slots=True)
class _NetSeen:
    """What the last full reconcile of a network (and the port events since) gave the driver: a port event
    then reads only that port and changes only its entries."""

    dhcp: DhcpSpec | None  # the DHCP spec as last applied (None: no DHCP served here)
    leased: frozenset[str]  # the subnets whose addresses get host entries
    hosts: dict[str, tuple[DhcpHost, ...]]  # port id -> its host entries
    addrs: dict[str, tuple[tuple[str, str], ...]]  # port id -> its (address, MAC)s


def _by_ip(host: DhcpHost) -> str:
    return host.ip


def _host_entry(mac: str, ip: str) -> DhcpHost:
    return DhcpHost(mac, ip, "host-" + ip.replace(".", "-").replace(":", "-"))


class NetworkReconciler(_Base):
    """Keys: a network id (a full reconcile: network and subnet changes, the periodic resync, the first look
    after start) or ``<network id>/<port id>`` (a port of the network changed: only that port's DHCP and DNS
    entries and released addresses, from one statement, when the network was fully reconciled before)."""

    topic = TOPIC_NETWORK

    def __init__(self, agent: NetworkAgentState) -> None:
        super().__init__(agent)
        self.seen: dict[str, _NetSeen] = {}
        self._locks: dict[str, threading.Lock] = {}  # per network: a port event vs a full reconcile
        self._locks_guard = threading.Lock()

    def pending_keys(self) -> Iterable[str]:
        self.state.register()  # heartbeat
        with self.uow() as uow:
            keys = self.state.needed_networks(uow)
        return keys | self.driver.list_networks() | self.driver.list_dhcp()

    def _lock(self, network_id: str) -> threading.Lock:
        lock = self._locks.get(network_id)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(network_id, threading.Lock())
        return lock

    def reconcile(self, key: str) -> None:
        network_id, _, port_id = key.partition("/")
        if port_id:
            with self._lock(network_id):
                waiting = self._port_changed(network_id, port_id)
            if waiting is not None:
                self.state.wake_ports(waiting)
                return
        with self._lock(network_id):
            waiting = self._full(network_id)
        self.state.wake_ports(waiting)

    def _port_changed(self, network_id: str, port_id: str) -> list[str] | None:
        """One port's entries brought up to date; None: a full reconcile is needed instead (the network
        not seen since start, a network-owned port, the port gone from a network maybe no longer needed)."""
        seen = self.seen.get(network_id)
        if seen is None or network_id not in self.state.networks_ensured:
            return None
        state = self.state
        with self.uow.connect() as conn:
            rows = conn.execute(_PORT_EVENT, {"port_id": port_id, "network_id": network_id}).all()
            if rows and rows[0].device_owner.startswith("network:"):
                return None
            # a port gone or not bound here may have been the last one needing the network here (the full path
            # then removes it); not while this agent serves DHCP on it (its DHCP port needs it: a change of
            # that port is a full reconcile)
            if (not rows or rows[0].host_id != state.host) and seen.dhcp is None and \
                    not state.needs_network(conn, network_id):
                return None
        addrs = tuple(sorted((r.ip_address, r.mac_address) for r in rows if r.ip_address is not None))
        hosts = tuple(sorted((_host_entry(r.mac_address, r.ip_address) for r in rows
                              if r.ip_address is not None and r.subnet_id in seen.leased), key=_by_ip))
        waiting: list[str] = []
        if seen.dhcp is not None and seen.hosts.get(port_id, ()) != hosts:
            if hosts:
                seen.hosts[port_id] = hosts
            else:
                seen.hosts.pop(port_id, None)
            spec = replace(seen.dhcp, hosts=tuple(sorted((h for hs in seen.hosts.values() for h in hs), key=_by_ip)))
            self.driver.ensure_dhcp(spec)
            seen.dhcp = spec
            subnets, before = state.dhcp_served.get(network_id, (frozenset(), frozenset()))
            served = frozenset(h.mac for h in spec.hosts)
            state.dhcp_served[network_id] = (subnets, served)
            waiting = self._waiting(network_id, served - before, False)
        old = seen.addrs.get(port_id, ())
        if addrs:
            seen.addrs[port_id] = addrs
        else:
            seen.addrs.pop(port_id, None)
        neighbours = state.addresses.get(network_id) if state.l3 else None
        if neighbours is not None and old != addrs:  # routers on the network: their neighbours of this port
            now = dict(addrs)
            released = tuple(sorted(ip for ip, mac in old if now.get(ip) != mac))
            for ip, mac in old:
                if neighbours.get(ip) == mac:
                    del neighbours[ip]
            neighbours.update(now)
            if released:
                with self.uow.connect() as conn:
                    routers = sorted(conn.execute(_ROUTERS_ON, {"network_id": network_id}).scalars())
                for router_id in routers:
                    self.driver.forget_neighbours(router_id, released)
        return waiting

    def _full(self, key: str) -> list[str]:
        waiting: list[str] = []
        with self.uow() as uow:
            net = _find_network(uow, key)
            needed = net is not None and self.state.needs_network(uow, net.id)
            if not needed:
                self.seen.pop(net.id if net else key, None)
                self.state.addresses.pop(net.id if net else key, None)
                self.driver.delete_dhcp(net.id if net else key)
                self.state.remove_network(net.id if net else key)
                return waiting
            self.seen.pop(net.id, None)  # until this reconcile got through
            self.state.apply_network(uow, net, NETWORK_RECHECK_SECONDS)
            addresses = uow.session.connection().execute(_ADDRESSES, {"network_id": net.id}).all()
            seen = _NetSeen(None, frozenset(), {}, {})
            for ip, mac, _, port_id in addresses:
                seen.addrs[port_id] = tuple(sorted((*seen.addrs.get(port_id, ()), (ip, mac))))
            dhcp = self._dhcp_spec(uow, net, addresses, seen) if self.state.dhcp else None
            if dhcp is not None:
                self.driver.ensure_dhcp(dhcp)
                seen.dhcp = dhcp
                subnets, served = frozenset(s.id for s in dhcp.subnets), frozenset(h.mac for h in dhcp.hosts)
                old_subnets, before = self.state.dhcp_served.get(net.id, (frozenset(), frozenset()))
                self.state.dhcp_served[net.id] = (subnets, served)
                # plugged ports of this host waiting for their entry to be served (or for a subnet change)
                waiting = self._waiting(net.id, served - before, subnets != old_subnets)
            else:
                self.driver.delete_dhcp(net.id)
                if self.state.dhcp_served.pop(net.id, None) is not None:  # no entries to wait for any more
                    waiting = self._waiting(net.id, frozenset(), True)
            if self.state.l3:
                self._forget_released(uow, net.id, addresses)
            self.seen[net.id] = seen
        return waiting

    def _waiting(self, network_id: str, new_macs: frozenset[str], every: bool) -> list[str]:
        return [port_id for port_id, (net_id, mac) in list(self.state.plugged_waiting.items())
                if net_id == network_id and (every or mac in new_macs)]

    def _forget_released(self, uow, network_id: str, addresses: list) -> None:
        """Drop the neighbour entries the routers on this network keep for addresses released since the
        last look (ports deleted, fixed IPs changed): another port may hold such an address now."""
        conn = uow.session.connection()
        routers = set(conn.execute(_ROUTERS_ON, {"network_id": network_id}).scalars())
        if not routers:
            self.state.addresses.pop(network_id, None)
            return
        now = {ip: mac for ip, mac, _, _ in addresses}
        before = self.state.addresses.get(network_id)
        self.state.addresses[network_id] = now
        released = tuple(sorted(ip for ip, mac in (before or {}).items() if now.get(ip) != mac))
        for router_id in sorted(routers) if released else ():
            self.driver.forget_neighbours(router_id, released)

    def _dhcp_spec(self, uow, net: NetRow, allocations: list, seen: _NetSeen) -> DhcpSpec | None:
        subnets = {s.id: s for s in net.subnets if serves_dhcp(s)}
        if not subnets:
            return None
        # prebuilt Core statements on the connection, not ORM rows
        conn = uow.session.connection()
        port = conn.execute(_DHCP_PORT, {"network_id": net.id}).first()
        if port is None:
            return None
        own = conn.execute(_OWN_ADDRESSES, {"port_id": port.id}).all()
        addresses = tuple(Address(ip, _prefixlen(subnets[sid].cidr)) for sid, ip in own if sid in subnets)
        served = {sid for sid, _ in own if sid in subnets}
        if not addresses:
            return None
        # (stateless DHCPv6 subnets only answer options: their addresses come from SLAAC)
        leased = frozenset(sid for sid in served if subnets[sid].ipv6_address_mode != "dhcpv6-stateless")
        seen.leased = leased
        hosts = []
        for ip, mac, subnet_id, port_id in allocations:
            if subnet_id in leased and port_id != port.id:
                entry = _host_entry(mac, ip)
                hosts.append(entry)
                seen.hosts[port_id] = tuple(sorted((*seen.hosts.get(port_id, ()), entry), key=_by_ip))
        specs = tuple(DhcpSubnet(s.id, s.cidr, s.gateway_ip, tuple(s.dns_nameservers or ()),
                                 tuple((r["destination"], r["nexthop"]) for r in s.host_routes or ()),
                                 s.ipv6_address_mode if s.ip_version == 6 else None)
                      for sid, s in subnets.items() if sid in served)
        return DhcpSpec(network_id=net.id, port_id=port.id, mac=port.mac_address, addresses=addresses,
                        subnets=specs, hosts=tuple(sorted(hosts, key=_by_ip)), mtu=net.mtu,
                        domain=net.dns_domain.rstrip(".") if net.dns_domain else "openstacklocal")


# one port's MAC, owner, host and addresses (no row: the port is gone)
_PORT_EVENT = select(_PORTS.c.mac_address, _PORTS.c.device_owner, _PORTS.c.host_id, _ALLOCS.c.ip_address,
                     _ALLOCS.c.subnet_id).select_from(
    _PORTS.outerjoin(_ALLOCS, _ALLOCS.c.port_id == _PORTS.c.id)).where(
    _PORTS.c.id == bindparam("port_id"), _PORTS.c.network_id == bindparam("network_id")).order_by(
    _ALLOCS.c.ip_order, _ALLOCS.c.id)


class PortReconciler(_Base):
    topic = TOPIC_PORT

    def __init__(self, agent: NetworkAgentState) -> None:
        super().__init__(agent)
        self.attempts: dict[str, int] = {}

    def pending_keys(self) -> Iterable[str]:
        with self.uow() as uow:
            return list(uow.session.scalars(select(m.Port.id).where(
                m.Port.host_id == self.state.host, ~m.Port.device_owner.like("network:%"))))

    def reconcile(self, key: str) -> None:
        state = self.state
        with self.uow.connect() as conn:
            # Core statements on a bare connection, not the ORM row with its addresses and groups: this runs for
            # every event of a port and every retry while its device is missing
            row = conn.execute(_PORT_CHECK, {"id": key}).first()
            if row is None or row.host_id != state.host or row.device_owner.startswith("network:"):
                self.forget(key)
                return
            net = state.ensure_network(row.network_id)
            dev = devname(key, state.prefix)
            spec = PortSpec(key, row.network_id, dev, row.mac_address, net.mtu if net else 1500)
            try:
                present = self.driver.ensure_port(spec)
                if not present:  # awaited, then looked at again: a device appearing in between wakes the check
                    state.awaiting_devices[dev] = key
                    present = self.driver.ensure_port(spec)
            except Exception:  # e.g. the bridge went away behind the agent's back: build it again next time
                state.networks_ensured.pop(row.network_id, None)
                raise
            if present:  # before looking: a firewall or DHCP step finishing meanwhile then wakes it
                state.awaiting_devices.pop(dev, None)
                state.plugged_waiting[key] = (row.network_id, row.mac_address)
            else:
                state.plugged_waiting.pop(key, None)
            converged = present and state.port_converged(
                key, row.network_id, row.mac_address,
                lambda: conn.execute(_PORT_SUBNETS, {"id": key}).scalars().all())
            status = "ACTIVE" if converged and row.admin_state_up else "DOWN"
        if converged:
            state.plugged_waiting.pop(key, None)
        if status == "ACTIVE":
            state.active_ports[key] = spec
        else:
            state.active_ports.pop(key, None)
        if status != row.status:
            with self.uow(write=True) as uow:
                # one UPDATE; no status event when a concurrent check wrote it already
                if uow.session.connection().execute(_SET_STATUS, {"port_id": key, "new_status": status,
                                                                  "now": utcnow()}).rowcount:
                    uow.emit(TOPIC_PORT_STATUS, key)  # compute waits for ACTIVE before starting the guest
        if present and not converged:  # the firewall/DHCP reconcilers (woken already) wake this key when they
            if key not in self.attempts:  # have the port: one slow look as a fallback
                self.attempts[key] = 1
                raise Requeue(2.0)
            return
        if not present and not self.driver.capabilities.device_events:  # compute is still building the guest
            n = self.attempts.get(key, 0) + 1  # (or it is stopped): look again now and then
            self.attempts[key] = n
            raise Requeue(min(0.1 * n, 5.0))
        # (a driver reporting devices wakes the check when the device appears; compute's notice and the
        # periodic resync wake it too)
        self.attempts.pop(key, None)

    def forget(self, key: str) -> None:
        self.attempts.pop(key, None)
        self.state.active_ports.pop(key, None)
        self.state.plugged_waiting.pop(key, None)
        self.state.awaiting_devices.pop(devname(key, self.state.prefix), None)


class PluggedReconciler(_Base):
    """Compute's notice that it (re)created a port's device (boot, start, reboot, attach): a port this agent
    reported ACTIVE has its device confirmed by the driver (attached again if it is a new one: no statement,
    no netlink request when it is the one attached); any other gets a full port check."""

    topic = TOPIC_PORT_PLUGGED

    def pending_keys(self) -> Iterable[str]:
        return ()  # the port reconciler's resync covers every port

    def reconcile(self, key: str) -> None:
        spec = self.state.active_ports.get(key)
        try:
            if spec is not None and self.driver.ensure_port(spec):
                return
        except Exception:  # the full check reports it
            log.debug("plug notice of port %s: the quick check failed", key, exc_info=True)
        self.state.wake_ports((key,))


_PORT_CHECK = select(_PORTS.c.network_id, _PORTS.c.host_id, _PORTS.c.device_owner, _PORTS.c.mac_address,
                     _PORTS.c.admin_state_up, _PORTS.c.status).where(_PORTS.c.id == bindparam("id"))
_PORT_SUBNETS = select(m.IPAllocation.__table__.c.subnet_id).where(
    m.IPAllocation.__table__.c.port_id == bindparam("id"))
_SET_STATUS = update(_PORTS).where(
    _PORTS.c.id == bindparam("port_id"), _PORTS.c.status != bindparam("new_status")).values(
    status=bindparam("new_status"), updated_at=bindparam("now"))


class RouterReconciler(_Base):
    topic = TOPIC_ROUTER

    def pending_keys(self) -> Iterable[str]:
        if not self.state.l3:
            return []
        with self.uow() as uow:
            keys = set(uow.session.scalars(select(m.Router.id)))
        return keys | self.driver.list_routers()

    def reconcile(self, key: str) -> None:
        if not self.state.l3:
            return
        with self.uow() as uow:
            router = uow.session.get(m.Router, key)
            if router is None:
                self.driver.delete_router(key)
                return
            spec = self._spec(uow, router)
            fips = [f.id for f in uow.session.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == key))]
        try:
            self.driver.ensure_router(spec)
        except Exception:  # e.g. a bridge gone behind the agent's back: its networks are built again next time
            for iface in (*spec.interfaces, *((spec.gateway,) if spec.gateway else ())):
                self.state.networks_ensured.pop(iface.network_id, None)
            raise
        with self.uow(write=True) as uow:
            for fid in fips:
                fip = uow.session.get(m.FloatingIP, fid)
                if fip is not None and fip.port_id and fip.status != "ACTIVE":
                    fip.status = "ACTIVE"

    def _iface(self, uow, port: m.Port, advertise: bool = False) -> RouterInterface:
        addrs, ras = [], []
        for a in port.fixed_ips:
            subnet = uow.session.get(m.Subnet, a.subnet_id)
            addrs.append(Address(a.ip_address, _prefixlen(subnet.cidr)))
            if advertise and subnet.ip_version == 6 and subnet.ipv6_ra_mode:
                ras.append(RouterAdvertisement(subnet.cidr, subnet.ipv6_ra_mode, tuple(subnet.dns_nameservers or ())))
        net = uow.session.get(m.Network, port.network_id)
        return RouterInterface(port.id, port.network_id, port.mac_address, tuple(addrs), net.mtu if net else 1500,
                               tuple(ras))

    def _spec(self, uow, router: m.Router) -> RouterSpec:
        s = uow.session
        ports = list(s.scalars(select(m.Port).where(m.Port.device_id == router.id,
                                                    m.Port.device_owner == DEVICE_OWNER_ROUTER_INTF)))
        interfaces = []
        subnet_ids = set()
        for p in ports if router.admin_state_up else []:
            self.state.ensure_network(p.network_id)
            interfaces.append(self._iface(uow, p, advertise=True))
            subnet_ids |= {a.subnet_id for a in p.fixed_ips}
        gateway = gateway_ip = None
        gw = s.get(m.Port, router.gw_port_id) if router.gw_port_id else None
        if gw is not None and router.admin_state_up:
            self.state.ensure_network(gw.network_id)
            gateway = self._iface(uow, gw)
            for a in gw.fixed_ips:
                subnet = s.get(m.Subnet, a.subnet_id)
                if subnet.ip_version == 4 and subnet.gateway_ip:
                    gateway_ip = subnet.gateway_ip
        fips = tuple(FloatingIPSpec(f.floating_ip_address, f.fixed_ip_address) for f in s.scalars(
            select(m.FloatingIP).where(m.FloatingIP.router_id == router.id, m.FloatingIP.port_id.is_not(None))))
        metadata = []
        if subnet_ids:
            q = select(m.IPAllocation, m.Port).join(m.Port, m.IPAllocation.port_id == m.Port.id).where(
                m.IPAllocation.subnet_id.in_(subnet_ids), or_(m.Port.device_owner.like("compute:%"),
                                                             m.Port.device_owner == ""))
            for alloc, port in s.execute(q):
                if port.device_id:
                    metadata.append(MetadataTarget(alloc.ip_address, port.device_id, port.project_id))
        return RouterSpec(id=router.id, interfaces=tuple(interfaces), gateway=gateway, gateway_ip=gateway_ip,
                          enable_snat=router.enable_snat,
                          routes=tuple((r["destination"], r["nexthop"]) for r in router.routes or ()),
                          floating_ips=fips if gateway else (), metadata=tuple(metadata))


class FirewallReconciler(_Base):
    """One ruleset for the host.  Hints arriving while a run is under way make the work queue run it once
    more; that run is skipped when every hint came before the last run started reading (a burst's hints
    queued behind a run it already covered), and runs follow each other at least ``GAP`` apart so one run
    covers the hints of a burst's next few ports.  The resync and a failed run's retry always run."""

    topic = TOPIC_FIREWALL
    GAP = 0.01

    def __init__(self, agent: NetworkAgentState) -> None:
        super().__init__(agent)
        self._rules: dict[tuple, FirewallRule] = {}  # rule columns -> the rule as last built
        self._hint_lock = threading.Lock()
        self.hinted = 0.0  # monotonic time of the latest hint
        self.covered = -1.0  # when the last successful run started reading
        self._ended = 0.0

    def hint(self) -> None:
        """A hint for this reconciler arrived (before it is queued)."""
        now = time.monotonic()
        with self._hint_lock:
            if now > self.hinted:
                self.hinted = now

    def pending_keys(self) -> Iterable[str]:
        self.hint()  # the periodic resync repairs what went behind the agent's back: it runs
        return ["all"]

    def reconcile(self, key: str) -> None:
        if self.hinted < self.covered:
            return  # every change announced so far was in the database the last run read
        wait = self._ended + self.GAP - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        started = time.monotonic()
        try:
            with self.uow.connect() as conn:
                ports, groups = self._ports(conn)
            self.driver.apply_firewall(ports, groups)
        finally:
            self._ended = time.monotonic()
        self.covered = started
        applied = frozenset(p.id for p in ports)
        new, self.state.firewalled = applied - self.state.firewalled, applied
        # plugged ports waiting to be reported ACTIVE until their rules were in (a port whose device is
        # not there yet is checked when it appears: its rules are in before then)
        self.state.wake_ports(new & self.state.plugged_waiting.keys())

    def _ports(self, conn: Connection) -> tuple[tuple[FirewallPort, ...], dict[str, tuple[str, ...]]]:
        """This host's ports as the driver takes them: five prebuilt Core statements on the connection (this
        runs after every port change in the cloud; the ORM statements built per run cost 4-5 ms of CPU with
        20 ports), each group's rules built once for all its ports, each rule once for all runs."""
        args = {"host": self.state.host}
        rows = conn.execute(_FW_PORTS, args).all()
        if not rows:
            return (), {}
        ips: dict[str, list[str]] = {}
        for port_id, ip in conn.execute(_FW_IPS, args):
            ips.setdefault(port_id, []).append(ip)
        bindings: dict[str, list[str]] = {}
        for port_id, gid in conn.execute(_FW_BINDINGS, args):
            bindings.setdefault(port_id, []).append(gid)
        stateful: dict[str, bool] = {}
        rules: dict[str, list[FirewallRule]] = {}
        remote_groups: set[str] = set()
        known = self._rules
        fresh: dict[tuple, FirewallRule] = {}
        if bindings:
            for gid, is_stateful, *rule in conn.execute(_FW_RULES, args):
                stateful[gid] = is_stateful
                if rule[0] is None:  # a group without rules
                    continue
                key = tuple(rule)
                made = known.get(key) or fresh.get(key)
                if made is None:
                    direction, ether, proto, lo, hi, prefix, remote = key
                    made = FirewallRule(direction, ether, proto, lo, hi, prefix, None if prefix else remote)
                fresh[key] = made
                if made.remote_group:
                    remote_groups.add(made.remote_group)
                rules.setdefault(gid, []).append(made)
        self._rules = fresh  # the rules of the groups in use: the same objects while they last
        group_rules = {gid: tuple(found) for gid, found in rules.items()}
        prefix = self.state.prefix
        out = []
        for port_id, mac, security, pairs in rows:
            gids = [g for g in bindings.get(port_id, ()) if g in stateful]
            port_rules: tuple[FirewallRule, ...] = ()
            for g in gids:
                port_rules += group_rules.get(g, ())
            out.append(FirewallPort(
                id=port_id, devname=devname(port_id, prefix), mac=mac, ips=tuple(ips.get(port_id, ())),
                port_security=security,
                allowed_pairs=tuple((p["ip_address"], p.get("mac_address") or mac) for p in pairs or ()),
                rules=port_rules, stateful=all(stateful[g] for g in gids)))
        return tuple(out), self._members(conn, remote_groups) if remote_groups else {}

    @staticmethod
    def _members(conn: Connection, group_ids: set[str]) -> dict[str, tuple[str, ...]]:
        """Every address of the groups' member ports, on any host (fixed IPs and address pairs)."""
        members: dict[str, set[str]] = {g: set() for g in group_ids}
        if not group_ids:
            return {}
        args = {"ids": sorted(group_ids)}
        for gid, ip in conn.execute(_MEMBER_IPS, args):
            members[gid].add(ip)
        for gid, pairs in conn.execute(_MEMBER_PAIRS, args):
            if pairs:
                members[gid].update(p["ip_address"] for p in pairs)
        return {g: tuple(sorted(ips)) for g, ips in members.items()}


_BINDINGS = m.PortSecurityGroup.__table__
_GROUPS = m.SecurityGroup.__table__
_RULES = m.SecurityGroupRule.__table__
_HERE = (_PORTS.c.host_id == bindparam("host")) & ~_PORTS.c.device_owner.like("network:%")
_FW_PORTS = select(_PORTS.c.id, _PORTS.c.mac_address, _PORTS.c.port_security_enabled,
                   _PORTS.c.allowed_address_pairs).where(_HERE).order_by(_PORTS.c.id)
_FW_IPS = select(_ALLOCS.c.port_id, _ALLOCS.c.ip_address).join(_PORTS, _PORTS.c.id == _ALLOCS.c.port_id).where(
    _HERE).order_by(_ALLOCS.c.port_id, _ALLOCS.c.ip_order, _ALLOCS.c.id)
_FW_BINDINGS = select(_BINDINGS.c.port_id, _BINDINGS.c.security_group_id).join(
    _PORTS, _PORTS.c.id == _BINDINGS.c.port_id).where(_HERE).order_by(
    _BINDINGS.c.port_id, _BINDINGS.c.security_group_id)
# the groups of this host's ports with their rules (one row with no rule for a group without any)
_FW_RULES = select(
    _GROUPS.c.id, _GROUPS.c.stateful, _RULES.c.direction, _RULES.c.ethertype, _RULES.c.protocol,
    _RULES.c.port_range_min, _RULES.c.port_range_max, _RULES.c.remote_ip_prefix, _RULES.c.remote_group_id,
).select_from(_GROUPS.outerjoin(_RULES, _RULES.c.security_group_id == _GROUPS.c.id)).where(
    _GROUPS.c.id.in_(select(_BINDINGS.c.security_group_id).join(
        _PORTS, _PORTS.c.id == _BINDINGS.c.port_id).where(_HERE))).order_by(_RULES.c.created_at, _RULES.c.id)
_MEMBER_IPS = select(_BINDINGS.c.security_group_id, _ALLOCS.c.ip_address).join(
    _ALLOCS, _ALLOCS.c.port_id == _BINDINGS.c.port_id).where(
    _BINDINGS.c.security_group_id.in_(bindparam("ids", expanding=True)))
_MEMBER_PAIRS = select(_BINDINGS.c.security_group_id, _PORTS.c.allowed_address_pairs).join(
    _PORTS, _PORTS.c.id == _BINDINGS.c.port_id).where(
    _BINDINGS.c.security_group_id.in_(bindparam("ids", expanding=True)))


class NetworkAgent(Agent):
    """The network role's Agent: registers the host, stops the driver's helpers on stop."""

    def __init__(self, state: NetworkAgentState, bus: Bus, **kw) -> None:
        self.state = state
        self._firewall = FirewallReconciler(state)
        super().__init__(f"network-agent-{state.host}", bus, [
            NetworkReconciler(state), PortReconciler(state), PluggedReconciler(state), RouterReconciler(state),
            self._firewall], **kw)
        state.wake_port = lambda port_id: self._on_message(TOPIC_PORT, port_id)

    def _on_message(self, topic: str, key: str) -> None:
        if topic == TOPIC_FIREWALL:
            self._firewall.hint()
        super()._on_message(topic, key)

    @property
    def driver(self) -> NetworkDriver:
        return self.state.driver

    def start(self) -> None:
        self.state.driver.setup()
        self.state.register()
        if self.state.driver.capabilities.device_events:
            self.state.driver.watch_devices(self.state.device_appeared)
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.state.driver.close()


def build_agent(settings: Settings, uow: UnitOfWorkFactory, bus: Bus, driver_name: str,
                driver: NetworkDriver | None = None) -> NetworkAgent:
    ns = settings.network
    state = NetworkAgentState(uow, driver or make_driver(settings, driver_name), ns.host or socket.gethostname(),
                              ns.tunnel_ip, ns.dhcp_agent, ns.l3_agent, ns.external_gateway, kernel_prefix(settings))
    # ports of concurrent boots are wired side by side (each waits on ip/nft/dnsmasq, not on the CPU)
    return NetworkAgent(state, bus, workers=4)
