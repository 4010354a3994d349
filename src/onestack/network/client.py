"""The networking service's in-process facade: what the composition root and other services use.

Handlers reach the service's dependencies as ``req.deps`` (``uow``, ``limits``, ``config``, ``write``).
Compute plugs servers into networks through these methods (all return Neutron-shaped port dicts,
as ``GET /v2.0/ports/{id}`` shows them to an admin):

``allocate_for_server(ctx, server_id, host, requested, availability_zone="nova", security_groups=())``
    ``requested`` is ``"auto"`` (one port on the only network the project can use: its own, else a
    shared one; ``NetworkAmbiguous``/409 if several, ``NetworkNotFound``/404-style error if none),
    ``"none"`` (no ports) or a list of ``{"uuid": net}``, ``{"port": port_id}`` or
    ``{"uuid": net, "fixed_ip": ip}``.  New ports get ``device_owner="compute:<az>"``,
    ``device_id=server_id``, ``binding:host_id=host`` and the server's ``security_groups`` (names or
    ids; the project's default group when empty); pre-existing ports are bound the same way (409
    ``PortInUse`` if another device has them).
    All or nothing: on any error the ports created so far are deleted and pre-existing ones unbound,
    then the ApiError (``IpAddressGenerationFailure``, ``OverQuota``, ``PortNotFound``...) is raised.
``allocate_port_for_server(ctx, server_id, host, requested, availability_zone="nova") -> dict``
    One more port for an existing server (os-interface attach): ``requested`` is one item as above
    (``{}``: the project's only network, as ``"auto"``); the port must be free (409 ``PortInUse``).
``release_port(server_id, port_id)``
    Undoes one port of a server (detach, or a failed attach): deleted when compute created it,
    else unbound; nothing when the port is not the server's.
``deallocate_for_server(server_id)``
    Deletes the ports ``allocate_for_server`` created and unbinds (clears device and binding of)
    pre-existing ones.
``ports_for_server(server_id) -> list[dict]``
    The server's ports; each has ``fixed_ips``, ``mac_address``, ``network_id`` and, for server
    ``addresses``, ``network_name`` and ``floating_ips`` (list of addresses) added.
``get_security_groups(ctx, names_or_ids) -> list[dict]``
    Resolves names (within the caller's project; ``default`` is created on demand) or ids to
    security-group dicts; ``SecurityGroupNotFound`` (404) for unknown ones.
``vif_name(port_id) -> str``
    The host-side device name (``binding:vif_details.devname`` in the dicts above) compute creates for
    the port: a tap (QEMU) or the host end of a veth pair (containers), named with this host's [network]
    prefix (compute and the network agent of a host share it).  The network agent on the port's host
    attaches that device to the network's bridge and applies the port's security groups once it appears.
``notify_vifs_plugged(port_ids)``
    Compute (re)created the ports' host devices (boot, start, reboot): wakes the network agent so it
    attaches them to their bridges now rather than at its next resync.
``wait_ports_active(port_ids, timeout) -> bool``
    Blocks until the ports are ``ACTIVE`` (Nova's wait for network-vif-plugged): compute starts a
    guest only once its data plane is ready.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import bindparam, literal, select, union_all

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.context import RequestContext
from onestack.core.errors import ApiError, Conflict, NotFound
from onestack.core.uow import UnitOfWork, UnitOfWorkFactory

from . import model as m
from .service import common
from .service import networks as net_svc
from .service import ports as port_svc
from .service import routers as router_svc
from .service import security_groups as sg_svc
from .service.common import SYSTEM, TOPIC_PORT_PLUGGED, TOPIC_PORT_STATUS, Caller, Limits
from .views.ports import devname, kernel_prefix
from .views.ports import port as port_view
from .views.security_groups import security_group as sg_view

log = logging.getLogger(__name__)
T = TypeVar("T")
CREATED_BY_COMPUTE = "compute"
LIMIT_CACHE_SECONDS = 5.0


def resolve_driver_name(configured: str) -> str:
    """``auto``: the linux data plane when root and the tools are there, else the fake one."""
    if configured != "auto":
        return configured
    import os

    tools = ("ip", "dnsmasq", "nft")
    if os.geteuid() == 0 and all(shutil.which(t) for t in tools):
        try:
            import pyroute2  # noqa: F401
        except ImportError:
            return "fake"
        return "linux"
    return "fake"


class NetworkClient:
    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, bus: Bus, identity=None) -> None:
        self.settings = settings
        self.uow = uow
        self.bus = bus
        self.identity = identity
        ns = settings.network
        self.config = net_svc.NetworkConfig.parse(ns.vxlan_ranges, ns.flat_networks, ns.global_mtu)
        lookup = None
        if identity is not None and hasattr(identity, "effective_limit"):
            cache: dict[tuple[str, str], tuple[float, int | None]] = {}

            def lookup(resource: str, project_id: str) -> int | None:
                # unified limits change rarely; a few seconds of caching keeps them off every create
                now = time.monotonic()
                hit = cache.get((resource, project_id))
                if hit is not None and now - hit[0] < LIMIT_CACHE_SECONDS:
                    return hit[1]
                value = identity.effective_limit("network", resource, project_id)
                if len(cache) > 10000:
                    cache.clear()
                cache[(resource, project_id)] = (now, value)
                return value
        self.limits = Limits(lookup)
        self.host = ns.host or socket.gethostname()
        self.prefix = kernel_prefix(settings)  # as this host's network agent names port devices
        self._waiters: dict[threading.Event, frozenset[str]] = {}  # a wait_ports_active call -> its ports
        self._waiters_lock = threading.Lock()
        bus.subscribe(TOPIC_PORT_STATUS, self._port_status_changed)

    def write(self, fn: Callable[[UnitOfWork], T]) -> T:
        return common.write(self.uow, fn)

    # -- set-up ------------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        if self.identity is not None and hasattr(self.identity, "ensure_registered_limits"):
            self.identity.ensure_registered_limits("network", dict(common.QUOTA_DEFAULTS))
        if self.settings.network.bootstrap:
            from .service.bootstrap import bootstrap_topology

            bootstrap_topology(self, self.settings.network)

    # -- compute's view ----------------------------------------------------------------------------

    def vif_name(self, port_id: str) -> str:
        return devname(port_id, self.prefix)

    def _view(self, uow: UnitOfWork, port: m.Port) -> dict:
        out = port_view(port, admin=True)
        if out["binding:vif_details"]:
            out["binding:vif_details"]["devname"] = self.vif_name(port.id)
        net = uow.session.get(m.Network, port.network_id)
        out["network_name"] = net.name if net else ""
        out["mtu"] = net.mtu if net else 1500
        out["floating_ips"] = list(uow.session.scalars(select(m.FloatingIP.floating_ip_address).where(
            m.FloatingIP.port_id == port.id)))
        return out

    def allocate_for_server(self, ctx: RequestContext, server_id: str, host: str, requested: Any,
                            availability_zone: str = "nova", security_groups: Sequence[str] = ()) -> list[dict]:
        caller = Caller.of(ctx)
        if requested == "none" or requested is None:
            return []
        created: list[str] = []
        bound: list[str] = []
        made: list[tuple[SimpleNamespace, SimpleNamespace]] = []  # the new ports' records, with their networks
        others: list[bool] = []  # whether the server had ports before the first new one (checked with it)
        # the server's groups (names or ids) on the ports made for it; none or only "default": the port's
        # own default (none on a network without port security), as Nova
        groups = list(dict.fromkeys(security_groups)) if tuple(security_groups) not in ((), ("default",)) else None
        try:
            if requested == "auto":
                requested = [{"uuid": self._auto_network(caller)}]
            for item in requested:
                if item.get("port"):
                    bound.append(self.write(lambda uow, item=item: self._bind(uow, caller, item["port"], server_id,
                                                                              host, availability_zone)))
                else:
                    body = _server_port_body(item, caller, server_id, host, availability_zone)
                    record = self.write(lambda uow, body=body, first=not created: self._create_server_port(
                        uow, caller, body, groups, others if first else None))
                    created.append(record[0].id)
                    made.append(record)
        except ApiError:
            self._release(created, bound)
            raise
        if bound or others != [False]:
            return self.ports_for_server(server_id)
        # only ports made here, as written (what ports_for_server would read back: no floating IPs yet)
        return [self._record_view(port, net.name, net.mtu, []) for port, net in made]

    def _create_server_port(self, uow: UnitOfWork, caller: Caller, body: dict, groups: list[str] | None,
                            others: list[bool] | None = None) -> tuple[SimpleNamespace, SimpleNamespace]:
        if groups is not None:
            body = {**body, "security_groups": [sg_svc.find_security_group(uow, caller, g).id for g in groups]}
        if others is not None:
            others[:] = [uow.session.connection().execute(_SERVER_PORT_IDS, {"device_id": body["device_id"]})
                         .first() is not None]
        net = net_svc.get_network_record(uow, caller, body["network_id"])
        return port_svc.create_port(uow, caller, self.limits, body, created_by=CREATED_BY_COMPUTE, net=net), net

    def check_requested_networks(self, ctx: RequestContext, requested: list[dict]) -> None:
        """Before a server is created: each requested network and port exists and ``ctx`` may use it
        (NotFound names the first one missing), and each port is free (Conflict), as Nova checks."""
        caller = Caller.of(ctx)
        with self.uow() as uow:
            for item in requested:
                if item.get("port"):
                    port = port_svc.get_port(uow, caller, item["port"])
                    if port.device_id:
                        raise Conflict(f"Port {port.id} is still in use.", type="PortInUse")
                elif item.get("uuid"):
                    net_svc.check_network(uow, caller, item["uuid"])

    def allocate_port_for_server(self, ctx: RequestContext, server_id: str, host: str, requested: dict,
                                 availability_zone: str = "nova") -> dict:
        caller = Caller.of(ctx)
        item = dict(requested) if requested.get("port") or requested.get("uuid") else \
            {**requested, "uuid": self._auto_network(caller)}
        self.check_requested_networks(ctx, [item])  # a port already bound to a server, this one too, is in use
        if item.get("port"):
            port_id = self.write(lambda uow: self._bind(uow, caller, item["port"], server_id, host, availability_zone))
        else:
            body = _server_port_body(item, caller, server_id, host, availability_zone)
            port_id = self.write(lambda uow: port_svc.create_port(uow, caller, self.limits, body,
                                                                  created_by=CREATED_BY_COMPUTE).id)
        with self.uow() as uow:
            return self._view(uow, port_svc.get_port(uow, SYSTEM, port_id))

    def release_port(self, server_id: str, port_id: str) -> None:
        with self.uow() as uow:
            port = uow.session.get(m.Port, port_id)
            if port is None or port.device_id != server_id:
                return
            created = port.created_by_client == CREATED_BY_COMPUTE
        self._release([port_id] if created else [], [] if created else [port_id])

    def add_fixed_ip_for_server(self, server_id: str, network_id: str) -> dict:
        """Nova's addFixedIp: one more address, from a subnet of ``network_id``, on the server's port there
        (the first subnet with a free address).  NotFound (NetworkNotFoundForInstance) when the server has no
        port on that network; Conflict (NoMoreFixedIps) when no subnet has an address left."""
        with self.uow() as uow:
            ports = [p.id for p in uow.session.scalars(select(m.Port).where(
                m.Port.device_id == server_id, m.Port.network_id == network_id).order_by(m.Port.created_at))]
            subnets = [s.id for s in uow.session.scalars(select(m.Subnet).where(m.Subnet.network_id == network_id)
                                                         .order_by(m.Subnet.ip_version, m.Subnet.created_at))]
        if not ports or not subnets:
            raise NotFound(f"Network could not be found for instance {server_id}.", type="NetworkNotFoundForInstance")
        for port_id in ports:
            for subnet_id in subnets:
                def add(uow: UnitOfWork, port_id=port_id, subnet_id=subnet_id) -> m.Port:
                    port = port_svc.get_port(uow, SYSTEM, port_id)
                    kept = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips]
                    return port_svc.update_port(uow, SYSTEM, port_id, {"fixed_ips": [*kept, {"subnet_id": subnet_id}]})
                try:
                    port_id_done = self.write(lambda uow, add=add: add(uow).id)
                except ApiError as exc:
                    log.debug("no address for %s from subnet %s: %s", server_id, subnet_id, exc)
                    continue
                with self.uow() as uow:
                    return self._view(uow, port_svc.get_port(uow, SYSTEM, port_id_done))
        raise Conflict(f"No fixed IP addresses available for network: {network_id}", type="NoMoreFixedIps")

    def remove_fixed_ip_for_server(self, server_id: str, address: str) -> dict:
        """Nova's removeFixedIp: the address leaves the server's port that has it.  NotFound
        (FixedIpNotFoundForInstance) when no port of the server has it."""
        with self.uow() as uow:
            port_id = uow.session.scalar(select(m.Port.id).join(m.IPAllocation, m.IPAllocation.port_id == m.Port.id)
                                         .where(m.Port.device_id == server_id, m.IPAllocation.ip_address == address))
        if port_id is None:
            raise NotFound(f"Instance {server_id} does not have fixed IP '{address}'.",
                           type="FixedIpNotFoundForInstance")

        def remove(uow: UnitOfWork) -> None:
            port = port_svc.get_port(uow, SYSTEM, port_id)
            port_svc.update_port(uow, SYSTEM, port_id, {"fixed_ips": [
                {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips
                if a.ip_address != address]})
        self.write(remove)
        with self.uow() as uow:
            return self._view(uow, port_svc.get_port(uow, SYSTEM, port_id))

    def _auto_network(self, caller: Caller) -> str:
        with self.uow() as uow:
            nets = [n for n in net_svc.list_networks(uow, caller) if not n.external]
            own = [n for n in nets if n.project_id == caller.project_id]
            choice = [n.id for n in (own or [n for n in nets if n.shared])]
        if not choice:
            raise NotFound("No network is available to the project; create one or request networks explicitly.",
                           type="NetworkNotFound")
        if len(choice) > 1:
            raise Conflict("Multiple possible networks found, use a Network ID to be more specific.",
                           type="NetworkAmbiguous")
        return choice[0]

    def _bind(self, uow: UnitOfWork, caller: Caller, port_id: str, server_id: str, host: str, az: str) -> str:
        port = port_svc.get_port(uow, caller, port_id)
        if port.device_id and port.device_id != server_id:
            raise Conflict(f"Port {port.id} is still in use.", type="PortInUse")
        port_svc.update_port(uow, SYSTEM, port.id, {
            "device_id": server_id, "device_owner": port.device_owner or f"compute:{az}", "binding:host_id": host})
        return port.id

    def _release(self, created: list[str], bound: list[str]) -> None:
        for pid in created:
            with contextlib.suppress(ApiError):
                self.write(lambda uow, pid=pid: port_svc.delete_server_port(uow, pid))
        for pid in bound:
            with contextlib.suppress(ApiError):
                self.write(lambda uow, pid=pid: port_svc.update_port(uow, SYSTEM, pid, {
                    "device_id": "", "device_owner": "", "binding:host_id": ""}))

    def deallocate_for_server(self, server_id: str) -> None:
        with self.uow() as uow:
            ports = list(uow.session.connection().execute(select(m.Port.id, m.Port.created_by_client).where(
                m.Port.device_id == server_id)))
        self._release([p for p, by in ports if by == CREATED_BY_COMPUTE],
                      [p for p, by in ports if by != CREATED_BY_COMPUTE])

    def ports_for_server(self, server_id: str) -> list[dict]:
        # four prebuilt Core statements and read-only records (compute reads these two or three times
        # per boot): the ports with their networks' names and MTUs, their IPs, groups and floating IPs
        with self.uow() as uow:
            conn = uow.session.connection()
            args = {"device_id": server_id}
            ports = {row.id: SimpleNamespace(**row._mapping, fixed_ips=[], security_group_ids=[])
                     for row in conn.execute(_SERVER_PORTS, args)}
            if not ports:
                return []
            floating: dict[str, list[str]] = {}
            for kind, port_id, first, second, _ in conn.execute(_SERVER_DETAILS, args):
                if port_id not in ports:
                    continue
                if kind == 0:
                    ports[port_id].fixed_ips.append(SimpleNamespace(subnet_id=first, ip_address=second))
                elif kind == 1:
                    ports[port_id].security_group_ids.append(first)
                else:
                    floating.setdefault(port_id, []).append(first)
        return [self._record_view(p, p.network_name if p.network_name is not None else "",
                                  p.network_mtu if p.network_mtu is not None else 1500, floating.get(p.id, []))
                for p in ports.values()]

    def _record_view(self, p, network_name: str, mtu: int, floating_ips: list[str]) -> dict:
        view = port_view(p, admin=True)
        if view["binding:vif_details"]:
            view["binding:vif_details"]["devname"] = self.vif_name(p.id)
        view["network_name"] = network_name
        view["mtu"] = mtu
        view["floating_ips"] = floating_ips
        return view

    def notify_vifs_plugged(self, port_ids: list[str]) -> None:
        # a wake-up hint changing no state: straight on the bus, no transaction (it waited for its turn among
        # a burst's writers); a lost one is made good by the agent's own device watch or its resync.  Its own
        # topic: the agent checks the port again only if it has not reported it ACTIVE on that same device
        # (at boot the device event made it ACTIVE already, a third check of the port was redundant)
        for port_id in port_ids:
            self.bus.publish(TOPIC_PORT_PLUGGED, port_id)

    def wait_ports_active(self, port_ids: list[str], timeout: float) -> bool:
        """Block until every port is ACTIVE (its host's agent attached the device, applied its security
        groups and serves its DHCP entry); False on timeout. Woken by the agents' status hints, with a
        slow re-read in case a hint is lost."""
        pending = set(port_ids)
        wake = threading.Event()
        with self._waiters_lock:
            self._waiters[wake] = frozenset(port_ids)
        try:
            deadline = time.monotonic() + timeout
            while True:
                with self.uow.connect() as conn:  # a prebuilt statement: every boot, again on each hint
                    pending -= set(conn.execute(_ACTIVE_PORTS, {"ids": sorted(pending)}).scalars())
                left = deadline - time.monotonic()
                if not pending or left <= 0:
                    return not pending
                wake.wait(min(left, 0.5))
                wake.clear()
        finally:
            with self._waiters_lock:
                self._waiters.pop(wake, None)

    def _port_status_changed(self, _topic: str, key: str) -> None:
        # the hint names the port: only the waits for it look again (20 builds at once each woken by every
        # port's hint re-read their ports 20 times over)
        with self._waiters_lock:
            for wake, ports in self._waiters.items():
                if key in ports:
                    wake.set()

    def get_security_groups(self, ctx: RequestContext, names_or_ids: list[str]) -> list[dict]:
        caller = Caller.of(ctx)

        def find(uow: UnitOfWork) -> list[dict]:
            return [sg_view(sg_svc.find_security_group(uow, caller, n)) for n in names_or_ids]

        return self.write(find)

    def set_port_security_groups(self, ctx: RequestContext, port_id: str, group_ids: list[str]) -> dict:
        caller = Caller.of(ctx)
        self.write(lambda uow: port_svc.update_port(uow, caller, port_id, {"security_groups": group_ids}))
        with self.uow() as uow:
            return self._view(uow, port_svc.get_port(uow, SYSTEM, port_id))

    def router_ids(self) -> list[str]:
        with self.uow() as uow:
            return [r.id for r in router_svc.list_routers(uow, SYSTEM)]


_PORT_T, _NET_T = m.Port.__table__, m.Network.__table__
_SERVER_PORT_IDS = select(_PORT_T.c.id).where(_PORT_T.c.device_id == bindparam("device_id"))
_SERVER_PORTS = (select(*_PORT_T.c, _NET_T.c.name.label("network_name"), _NET_T.c.mtu.label("network_mtu"))
                 .select_from(_PORT_T.outerjoin(_NET_T, _NET_T.c.id == _PORT_T.c.network_id))
                 .where(_PORT_T.c.device_id == bindparam("device_id")).order_by(_PORT_T.c.created_at, _PORT_T.c.id))
# the ports' addresses (kind 0, in their order), groups (1) and floating IPs (2): one statement
_ALLOC_T, _GROUP_T, _FIP_T = m.IPAllocation.__table__, m.PortSecurityGroup.__table__, m.FloatingIP.__table__
_SERVER_DETAILS = union_all(
    select(literal(0).label("kind"), _ALLOC_T.c.port_id, _ALLOC_T.c.subnet_id.label("first"),
           _ALLOC_T.c.ip_address.label("second"), _ALLOC_T.c.ip_order.label("position"))
    .where(_ALLOC_T.c.port_id.in_(_SERVER_PORT_IDS)),
    select(literal(1), _GROUP_T.c.port_id, _GROUP_T.c.security_group_id, literal(""), literal(0))
    .where(_GROUP_T.c.port_id.in_(_SERVER_PORT_IDS)),
    select(literal(2), _FIP_T.c.port_id, _FIP_T.c.floating_ip_address, literal(""), literal(0))
    .where(_FIP_T.c.port_id.in_(_SERVER_PORT_IDS)),
).order_by("kind", "port_id", "position")
_ACTIVE_PORTS = select(_PORT_T.c.id).where(_PORT_T.c.id.in_(bindparam("ids", expanding=True)),
                                           _PORT_T.c.status == "ACTIVE")


def _server_port_body(item: dict, caller: Caller, server_id: str, host: str, availability_zone: str) -> dict:
    """The port Nova creates for a requested network (``uuid`` and an optional ``fixed_ip``), bound to the server."""
    body: dict = {"network_id": item["uuid"], "device_id": server_id, "device_owner": f"compute:{availability_zone}",
                  "binding:host_id": host, "project_id": caller.project_id}
    if item.get("fixed_ip"):
        body["fixed_ips"] = [{"ip_address": item["fixed_ip"]}]
    return body
