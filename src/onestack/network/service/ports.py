"""Ports: fixed IPs through IPAM, unique MACs, bindings, security groups, address pairs."""

from __future__ import annotations

import ipaddress
import json
from types import SimpleNamespace

from sqlalchemy import Text, bindparam, delete, insert, select, type_coerce

from onestack.compute.client import NETWORK_CHANGED
from onestack.core.db import new_id, utcnow
from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import in_use, invalid, not_found
from . import ipam
from . import security_groups as sg_svc
from .common import (
    DEVICE_OWNER_FLOATINGIP,
    DEVICE_OWNER_ROUTER_GW,
    ROUTER_OWNERS,
    SYSTEM,
    TOPIC_FIREWALL,
    TOPIC_NETWORK,
    TOPIC_PORT,
    TOPIC_ROUTER,
    Caller,
    Limits,
    apply_tags,
    bump,
    check_quota,
    check_revision,
)
from .networks import get_network_record, owner_of, serves_dhcp

# query parameters that map onto a column: filtered in SQL (the API layer filters the rest)
PORT_COLUMNS = {"id": "id", "name": "name", "network_id": "network_id", "mac_address": "mac_address",
                "device_id": "device_id", "device_owner": "device_owner", "status": "status",
                "project_id": "project_id", "tenant_id": "project_id", "binding:host_id": "host_id"}


_JSON_COLUMNS = ("tags", "profile", "allowed_address_pairs")


def list_ports(uow: UnitOfWork, caller: Caller, filters: dict[str, list[str]] | None = None,
               limit: int | None = None, marker: str | None = None) -> tuple[list[SimpleNamespace], bool]:
    """Visible ports matching the column ``filters``; with ``limit``, one page in creation order
    after ``marker`` and whether more follow.  Read-only records (not ORM rows): listing 10,000
    ports is three queries and no identity-map bookkeeping."""
    where = []
    if not caller.is_admin:
        owned_nets = select(m.Network.id).where(m.Network.project_id == caller.project_id)
        where.append((m.Port.project_id == caller.project_id) | m.Port.network_id.in_(owned_nets))
    for key, values in (filters or {}).items():
        where.append(getattr(m.Port, PORT_COLUMNS[key]).in_(values))
    if marker:
        after = uow.session.get(m.Port, marker)
        if after is None:
            from onestack.core.errors import BadRequest

            raise BadRequest(f"Marker {marker} could not be found", type="HTTPBadRequest")
        where.append((m.Port.created_at > after.created_at) |
                     ((m.Port.created_at == after.created_at) & (m.Port.id > after.id)))
    # JSON columns as text, decoded through a memo (nearly every port has the same "[]"/"{}"), and a
    # Core connection: no ORM row processing for thousands of rows
    cols = [type_coerce(c, Text).label(c.name) if c.name in _JSON_COLUMNS else c for c in m.Port.__table__.c]
    q = select(*cols).where(*where).order_by(m.Port.created_at, m.Port.id)
    if limit:
        q = q.limit(limit + 1)
    memo: dict[str, object] = {}
    rows = []
    result = uow.session.connection().execute(q)
    keys = list(result.keys())
    for values in result:  # plain tuples: a RowMapping per row cost as much as the query
        row = dict(zip(keys, values, strict=True))
        for key in _JSON_COLUMNS:
            value = row[key]
            if isinstance(value, str):
                row[key] = memo[value] if value in memo else memo.setdefault(value, json.loads(value))
        rows.append(SimpleNamespace(**row, fixed_ips=[], security_group_ids=[]))
    more = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    if not rows:
        return rows, more
    by_id = {r.id: r for r in rows}
    ids = select(m.Port.id).where(*where) if not limit else list(by_id)
    allocs = select(m.IPAllocation.port_id, m.IPAllocation.subnet_id, m.IPAllocation.ip_address).where(
        m.IPAllocation.port_id.in_(ids)).order_by(m.IPAllocation.port_id, m.IPAllocation.ip_order)
    for port_id, subnet_id, ip in uow.session.connection().execute(allocs):
        if port_id in by_id:
            by_id[port_id].fixed_ips.append(SimpleNamespace(subnet_id=subnet_id, ip_address=ip))
    groups = select(m.PortSecurityGroup.port_id, m.PortSecurityGroup.security_group_id).where(
        m.PortSecurityGroup.port_id.in_(ids))
    for port_id, gid in uow.session.connection().execute(groups):
        if port_id in by_id:
            by_id[port_id].security_group_ids.append(gid)
    return rows, more


def get_port(uow: UnitOfWork, caller: Caller, port_id: str) -> m.Port:
    port = uow.session.get(m.Port, port_id)
    if port is None:
        raise not_found("Port", port_id)
    if not caller.is_admin and port.project_id != caller.project_id:
        net = uow.session.get(m.Network, port.network_id)
        if net is None or net.project_id != caller.project_id:
            raise not_found("Port", port_id)
    return port


def _is_router_port(owner: str) -> bool:
    return owner in ROUTER_OWNERS


def _requested_ips(uow: UnitOfWork, net: m.Network, fixed_ips: list[dict], owner: str, mac: str,
                   keep: dict | None = None) -> list[m.IPAllocation]:
    """Resolve ``fixed_ips`` requests into allocations; ``keep`` maps (subnet, ip) of the port's current IPs."""
    keep = keep or {}
    subnets = {s.id: s for s in net.subnets}
    out: list[m.IPAllocation] = []
    seen: set[tuple[str, str]] = set()
    router = _is_router_port(owner)
    for req in fixed_ips:
        subnet_id, ip = req.get("subnet_id"), req.get("ip_address")
        if subnet_id is None and ip is None:
            raise invalid("Exceeded maximum amount of fixed ips per port / fixed_ips entries need subnet_id or "
                          "ip_address")
        if subnet_id is not None and subnet_id not in subnets:
            raise invalid(f"Failed to create port on network {net.id}, because fixed_ips included invalid subnet "
                          f"{subnet_id}")
        if subnet_id is None:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise invalid(f"{ip!r} is not a valid IP address") from None
            match = [s for s in subnets.values() if addr in ipaddress.ip_network(s.cidr)]
            if not match:
                raise invalid(f"IP address {ip} is not a valid IP for any subnet on network {net.id}")
            subnet_id = match[0].id
        subnet = subnets[subnet_id]
        if ip is not None:
            ip = str(ipaddress.ip_address(ip))
            if (subnet_id, ip) in keep:
                out.append(keep[(subnet_id, ip)])
                seen.add((subnet_id, ip))
                continue
            ip = ipam.check_requested(uow, subnet, ip, router)
        elif ipam.is_auto_address(subnet) and not router:
            ip = ipam.eui64(subnet.cidr, mac)
        else:
            current = [a for (s, _), a in keep.items() if s == subnet_id and (s, a.ip_address) not in seen]
            if current:
                out.append(current[0])
                seen.add((subnet_id, current[0].ip_address))
                continue
            ip = ipam.allocate(uow, subnet)
        if (subnet_id, ip) in seen:
            raise invalid(f"Duplicate IP address {ip} requested")
        seen.add((subnet_id, ip))
        out.append(m.IPAllocation(subnet_id=subnet_id, network_id=net.id, ip_address=ip))
    return out


def _default_ips(uow: UnitOfWork, net: m.Network, owner: str, mac: str) -> list[tuple[str, str]]:
    out = []
    v4_done = v6_done = False
    for subnet in net.subnets:
        if subnet.ip_version == 4:
            if v4_done:
                continue
            try:
                ip = ipam.allocate(uow, subnet)
            except Conflict:
                continue  # another IPv4 subnet may still have room
            v4_done = True
        elif ipam.is_auto_address(subnet):
            if _is_router_port(owner):
                continue
            ip = ipam.eui64(subnet.cidr, mac)
        else:
            if v6_done:
                continue
            ip = ipam.allocate(uow, subnet)
            v6_done = True
        out.append((subnet.id, ip))
    if net.subnets and not out:
        raise Conflict(f"No more IP addresses available on network {net.id}.", type="IpAddressGenerationFailure")
    return out


def _check_pairs(pairs: list[dict]) -> list[dict]:
    out = []
    for pair in pairs:
        ip = pair.get("ip_address")
        try:
            ipaddress.ip_network(ip, strict=False)
        except (ValueError, TypeError):
            raise invalid(f"'{ip}' is not a valid IP address") from None
        entry = {"ip_address": ip}
        if pair.get("mac_address"):
            entry["mac_address"] = pair["mac_address"].lower()
        out.append(entry)
    return out


def _mac(uow: UnitOfWork, requested: str | None) -> str:
    if requested:
        mac = requested.lower()
        if uow.session.scalar(select(m.Port.id).where(m.Port.mac_address == mac)):
            raise Conflict(f"Unable to complete operation for network. The mac address {mac} is in use.",
                           type="MacAddressInUse")
        return mac
    # 24 random bits: a clash is rare enough that the unique constraint (and common.write's retry)
    # settles it cheaper than a lookup on every create
    return ipam.random_mac()


_PORTS, _ALLOCS, _BINDINGS = m.Port.__table__, m.IPAllocation.__table__, m.PortSecurityGroup.__table__
_INSERT_PORT, _INSERT_ALLOCS, _INSERT_BINDINGS = insert(_PORTS), insert(_ALLOCS), insert(_BINDINGS)


def create_port(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict, created_by: str = "",
                status: str = "DOWN", net: SimpleNamespace | None = None) -> SimpleNamespace:
    """A port as a read-only record (what ``list_ports`` returns), written with Core statements: the
    hot path of every create, where the ORM's unit of work cost as much as the rest together.
    ``net`` is the network record the caller already read (``get_network_record``)."""
    uow.session.flush()  # rows this unit of work added through the ORM (a router, a subnet) come first
    net = net or get_network_record(uow, caller, body["network_id"])
    project_id = owner_of(caller, body)
    if not caller.is_admin and net.project_id != caller.project_id and not net.shared:
        raise not_found("Network", net.id)
    check_quota(uow, limits, project_id, "port")
    owner = body.get("device_owner") or ""
    mac = _mac(uow, body.get("mac_address"))
    port_security = body.get("port_security_enabled")
    if port_security is None:
        port_security = net.port_security_enabled
    pairs = _check_pairs(body.get("allowed_address_pairs") or [])
    if pairs and not port_security:
        raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.",
                       type="AddressPairAndPortSecurityRequired")
    if "fixed_ips" in body and body["fixed_ips"] is not None:
        allocations = [(a.subnet_id, a.ip_address) for a in _requested_ips(uow, net, body["fixed_ips"], owner, mac)]
        if body["fixed_ips"] and not _is_router_port(owner):
            # as upstream: SLAAC subnets address every port, whatever else it asked for
            listed = {subnet_id for subnet_id, _ in allocations}
            allocations += [(s.id, ipam.eui64(s.cidr, mac)) for s in net.subnets
                            if ipam.is_auto_address(s) and s.id not in listed]
    else:
        allocations = _default_ips(uow, net, owner, mac)
    groups = body.get("security_groups")
    if groups and not port_security:
        raise Conflict("Port has security group associated. Cannot disable port security or ip address until "
                       "security group is removed", type="PortSecurityAndIPRequiredForSecurityGroups")
    checked = set()
    if groups is None and port_security and not owner.startswith("network:"):
        groups = [sg_svc.ensure_default(uow, project_id)]
        checked = set(groups)  # the project's own default group: nothing to check
    groups = list(dict.fromkeys(groups or []))
    for gid in groups:
        if gid not in checked:
            sg_svc.check_security_group(uow, Caller(project_id, caller.is_admin), gid)
    now = utcnow()
    row = {
        "id": new_id(), "project_id": project_id, "name": body.get("name") or "",
        "description": body.get("description") or "", "revision": 1, "tags": sorted(set(body.get("tags") or [])),
        "created_at": now, "updated_at": now, "network_id": net.id, "mac_address": mac,
        "admin_state_up": body.get("admin_state_up", True), "status": status, "device_id": body.get("device_id") or "",
        "device_owner": owner, "host_id": body.get("binding:host_id") or "",
        "vnic_type": body.get("binding:vnic_type") or "normal", "profile": body.get("binding:profile") or {},
        "allowed_address_pairs": pairs, "port_security_enabled": port_security, "created_by_client": created_by,
    }
    conn = uow.session.connection()
    conn.execute(_INSERT_PORT, row)  # a clashing MAC or address fails here: common.write retries
    if allocations:
        conn.execute(_INSERT_ALLOCS, [{"port_id": row["id"], "subnet_id": subnet_id, "network_id": net.id,
                                       "ip_address": ip, "ip_order": i}
                                      for i, (subnet_id, ip) in enumerate(allocations)])
    if groups:
        conn.execute(_INSERT_BINDINGS, [{"port_id": row["id"], "security_group_id": gid} for gid in groups])
    port = SimpleNamespace(**row, fixed_ips=[SimpleNamespace(subnet_id=subnet_id, ip_address=ip)
                                             for subnet_id, ip in allocations], security_group_ids=groups)
    _announce(uow, port, net=net)
    return port


def _announce(uow: UnitOfWork, port: m.Port, was_bound: bool = False, net: m.Network | None = None,
              was_network_owned: bool = False) -> None:
    # the network's reconciler cares for ports that make it needed on a host (bound ones, DHCP and
    # router ports) and for every port of a network it serves DHCP on: not for an unbound port on a
    # network without DHCP (a burst of such creates would each cost the agent a reconcile)
    if was_network_owned or port.device_owner.startswith("network:"):  # DHCP, router ports: the whole network
        uow.emit(TOPIC_NETWORK, port.network_id)
    elif port.host_id or was_bound or _serves_dhcp(uow, port, net):  # only this port's entries
        uow.emit(TOPIC_NETWORK, f"{port.network_id}/{port.id}")
    if port.host_id or was_bound:  # only a host's agent plugs a port: unbound ones concern no one
        uow.emit(TOPIC_PORT, port.id)
    uow.emit(TOPIC_FIREWALL, "all")
    if port.device_owner in ROUTER_OWNERS and port.device_id:
        uow.emit(TOPIC_ROUTER, port.device_id)


def _serves_dhcp(uow: UnitOfWork, port: m.Port, net: m.Network | None) -> bool:
    net = net or uow.session.get(m.Network, port.network_id)
    return net is None or any(serves_dhcp(s) for s in net.subnets)


def update_port(uow: UnitOfWork, caller: Caller, port_id: str, body: dict, if_match=None) -> m.Port:
    port = get_port(uow, caller, port_id)
    check_revision(port, if_match)
    was_network_owned = port.device_owner.startswith("network:")
    was_bound = bool(port.host_id) or was_network_owned  # the network was needed
    net = uow.session.get(m.Network, port.network_id)
    if "network_id" in body and body["network_id"] != port.network_id:
        raise invalid("Cannot update read-only attribute network_id")
    if body.get("mac_address") and body["mac_address"].lower() != port.mac_address:
        if port.host_id and port.device_owner.startswith("compute:"):
            raise Conflict(f"Unable to complete operation on port {port.id}, port is already bound",
                           type="PortBound")
        port.mac_address = _mac(uow, body["mac_address"])
    if "fixed_ips" in body and body["fixed_ips"] is not None:
        keep = {(a.subnet_id, a.ip_address): a for a in port.fixed_ips}
        wanted = _requested_ips(uow, net, body["fixed_ips"], port.device_owner, port.mac_address, keep)
        port.fixed_ips[:] = []
        uow.session.flush()
        for i, alloc in enumerate(wanted):
            if alloc.id is not None:
                alloc = m.IPAllocation(subnet_id=alloc.subnet_id, network_id=alloc.network_id,
                                       ip_address=alloc.ip_address)
            alloc.ip_order = i
            port.fixed_ips.append(alloc)
        _fix_floating_ips(uow, port)
    security = body.get("port_security_enabled", port.port_security_enabled)
    groups = body.get("security_groups")
    if groups is None and "security_groups" not in body:
        groups = None
    pairs = body.get("allowed_address_pairs")
    if pairs is not None:
        pairs = _check_pairs(pairs)
    if not security:
        if (groups if groups is not None else port.security_group_ids) and "security_groups" not in body:
            raise Conflict("Port has security group associated. Cannot disable port security or ip address until "
                           "security group is removed", type="PortSecurityAndIPRequiredForSecurityGroups")
        if groups:
            raise Conflict("Port has security group associated. Cannot disable port security or ip address "
                           "until security group is removed", type="PortSecurityAndIPRequiredForSecurityGroups")
        if (pairs if pairs is not None else port.allowed_address_pairs):
            raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.",
                           type="AddressPairAndPortSecurityRequired")
    if groups is not None:
        for gid in groups:
            sg_svc.check_security_group(uow, Caller(port.project_id, caller.is_admin), gid)
        port.sg_bindings[:] = []
        uow.session.flush()
        for gid in dict.fromkeys(groups):
            port.sg_bindings.append(m.PortSecurityGroup(security_group_id=gid))
    if pairs is not None:
        port.allowed_address_pairs = pairs
    simple = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
              "device_id": "device_id", "device_owner": "device_owner", "binding:host_id": "host_id",
              "binding:vnic_type": "vnic_type", "binding:profile": "profile",
              "port_security_enabled": "port_security_enabled"}
    for key, attr in simple.items():
        if key in body:
            value = body[key]
            if value is None and attr in ("host_id", "device_id", "device_owner", "name", "description"):
                value = ""
            if value is None and attr == "profile":
                value = {}
            setattr(port, attr, value)
    if "binding:host_id" in body and not port.host_id:
        port.status = "DOWN"
    apply_tags(port, body.get("tags"))
    bump(port)
    _announce(uow, port, was_bound, net, was_network_owned)
    return port


def _fix_floating_ips(uow: UnitOfWork, port: m.Port) -> None:
    ips = {a.ip_address for a in port.fixed_ips}
    for fip in uow.session.scalars(select(m.FloatingIP).where(m.FloatingIP.port_id == port.id)):
        if fip.fixed_ip_address not in ips:
            _disassociate(uow, fip)


def announce_addresses(uow: UnitOfWork, port: m.Port | None) -> None:
    """``port`` gained or lost a floating IP: compute refreshes the addresses of the server it belongs to
    (Nova's network-changed external event)."""
    if port is not None and port.device_id and port.device_owner.startswith("compute:"):
        uow.emit(NETWORK_CHANGED, port.device_id)


def _disassociate(uow: UnitOfWork, fip: m.FloatingIP) -> None:
    if fip.router_id:
        uow.emit(TOPIC_ROUTER, fip.router_id)
    if fip.port_id:
        announce_addresses(uow, uow.session.get(m.Port, fip.port_id))
    fip.port_id = fip.fixed_ip_address = fip.router_id = None
    fip.status = "DOWN"
    bump(fip)


def delete_port(uow: UnitOfWork, caller: Caller, port_id: str, if_match=None, allow_router: bool = False) -> None:
    port = get_port(uow, caller, port_id)
    check_revision(port, if_match)
    if port.device_owner in ROUTER_OWNERS and port.device_id and not allow_router and \
            uow.session.get(m.Router, port.device_id) is not None:
        raise Conflict(f"Port {port.id} cannot be deleted directly via the port API: has device owner "
                       f"{port.device_owner}.", type="ServicePortInUse")
    if port.device_owner == DEVICE_OWNER_FLOATINGIP and not allow_router:
        raise in_use(f"Port {port.id} cannot be deleted directly via the port API: has device owner "
                     f"{port.device_owner}.", "ServicePortInUse")
    for fip in uow.session.scalars(select(m.FloatingIP).where(m.FloatingIP.port_id == port.id)):
        _disassociate(uow, fip)
    _announce(uow, port)
    uow.session.delete(port)


_PORT_T, _ALLOC_T, _GROUPS_T = m.Port.__table__, m.IPAllocation.__table__, m.PortSecurityGroup.__table__
_PORT_FOR_DELETE = select(_PORT_T.c.id, _PORT_T.c.network_id, _PORT_T.c.device_owner, _PORT_T.c.device_id,
                          _PORT_T.c.host_id).where(_PORT_T.c.id == bindparam("port_id"))
_PORT_HAS_FLOATING = select(m.FloatingIP.__table__.c.id).where(
    m.FloatingIP.__table__.c.port_id == bindparam("port_id")).limit(1)
_DELETE_ALLOCS = delete(_ALLOC_T).where(_ALLOC_T.c.port_id == bindparam("port_id"))
_DELETE_GROUPS = delete(_GROUPS_T).where(_GROUPS_T.c.port_id == bindparam("port_id"))
_DELETE_PORT = delete(_PORT_T).where(_PORT_T.c.id == bindparam("port_id"))


def delete_server_port(uow: UnitOfWork, port_id: str) -> None:
    """``delete_port`` as the system deletes a port compute created for a server (server delete, failed
    build): prebuilt Core statements and no rows loaded; a port with floating IPs (or a service port)
    takes ``delete_port``'s way."""
    conn = uow.session.connection()
    port = conn.execute(_PORT_FOR_DELETE, {"port_id": port_id}).first()
    if port is None:
        raise not_found("Port", port_id)
    if port.device_owner in ROUTER_OWNERS or port.device_owner == DEVICE_OWNER_FLOATINGIP or \
            conn.execute(_PORT_HAS_FLOATING, {"port_id": port_id}).first() is not None:
        delete_port(uow, SYSTEM, port_id)
        return
    _announce(uow, port)
    for statement in (_DELETE_ALLOCS, _DELETE_GROUPS, _DELETE_PORT):
        conn.execute(statement, {"port_id": port_id})


def delete_port_row(uow: UnitOfWork, port: m.Port) -> None:
    """Internal deletion (router gateways, floating IP ports): no policy, no device-owner checks."""
    _announce(uow, port)
    uow.session.delete(port)


def gateway_owner() -> str:
    return DEVICE_OWNER_ROUTER_GW
