"""Networks, subnets and subnet pools."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import bindparam, or_, select

from onestack.core.errors import BadRequest, Conflict
from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import in_use, invalid, not_found
from . import ipam
from .common import (
    DEVICE_OWNER_DHCP,
    TOPIC_FIREWALL,
    TOPIC_NETWORK,
    Caller,
    Limits,
    apply_tags,
    bump,
    check_quota,
    check_revision,
    visible,
)


@dataclass(frozen=True)
class NetworkConfig:
    """The ml2 options networking honours."""

    vxlan_ranges: tuple[tuple[int, int], ...] = ((1, 1000),)
    flat_networks: tuple[str, ...] = ("*",)
    global_mtu: int = 1500
    tenant_network_type: str = "vxlan"

    @classmethod
    def parse(cls, vxlan_ranges: str, flat_networks: str, global_mtu: int) -> NetworkConfig:
        ranges = []
        for part in vxlan_ranges.split(","):
            if part.strip():
                a, _, b = part.partition(":")
                ranges.append((int(a), int(b or a)))
        flats = tuple(p.strip() for p in flat_networks.split(",") if p.strip())
        return cls(tuple(ranges), flats, global_mtu)


SUPPORTED_TYPES = ("vxlan", "flat", "local")


# -- networks --------------------------------------------------------------------------------------

def _network_visibility(caller: Caller):
    return visible(m.Network, caller, m.Network.shared.is_(True), m.Network.external.is_(True))


def list_networks(uow: UnitOfWork, caller: Caller) -> list[m.Network]:
    q = select(m.Network).where(_network_visibility(caller)).order_by(m.Network.created_at, m.Network.id)
    return list(uow.session.scalars(q))


def get_network(uow: UnitOfWork, caller: Caller, network_id: str) -> m.Network:
    net = uow.session.get(m.Network, network_id)
    if net is None or not (caller.is_admin or net.project_id == caller.project_id or net.shared or net.external):
        raise not_found("Network", network_id)
    return net


_NETS, _SUBNETS = m.Network.__table__.c, m.Subnet.__table__.c
_NETWORK_OWNER = select(_NETS.project_id, _NETS.shared, _NETS.external).where(_NETS.id == bindparam("network_id"))


def check_network(uow: UnitOfWork, caller: Caller, network_id: str) -> None:
    """``get_network``'s NotFound without loading the network (a server create checks its networks)."""
    net = uow.session.connection().execute(_NETWORK_OWNER, {"network_id": network_id}).first()
    if net is None or not (caller.is_admin or net.project_id == caller.project_id or net.shared or net.external):
        raise not_found("Network", network_id)

_NETWORK_COLUMNS = ("id", "name", "project_id", "shared", "external", "port_security_enabled", "mtu")
_SUBNET_COLUMNS = ("id", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp", "ipv6_address_mode",
                   "allocation_pools", "created_at")
_NETWORK_RECORD = select(*(_NETS[c] for c in _NETWORK_COLUMNS),
                         *(_SUBNETS[c].label(f"subnet_{c}") for c in _SUBNET_COLUMNS)).outerjoin(
    m.Subnet.__table__, _SUBNETS.network_id == _NETS.id).where(_NETS.id == bindparam("network_id")).order_by(
    _SUBNETS.created_at)


def get_network_record(uow: UnitOfWork, caller: Caller, network_id: str) -> SimpleNamespace:
    """``get_network`` as a read-only record with the subnets' addressing, in one Core query: what a
    port create reads (the ORM's row and selectin subnets cost more than the rest of the create)."""
    rows = uow.session.connection().execute(_NETWORK_RECORD, {"network_id": network_id}).all()
    if not rows:
        raise not_found("Network", network_id)
    net = SimpleNamespace(**{c: getattr(rows[0], c) for c in _NETWORK_COLUMNS}, subnets=[])
    if not (caller.is_admin or net.project_id == caller.project_id or net.shared or net.external):
        raise not_found("Network", network_id)
    for row in rows:
        if row.subnet_id is not None:
            net.subnets.append(SimpleNamespace(**{c: getattr(row, f"subnet_{c}") for c in _SUBNET_COLUMNS}))
    return net


def _segment(uow: UnitOfWork, cfg: NetworkConfig, body: dict) -> tuple[str, str | None, int | None]:
    ntype = body.get("provider:network_type") or cfg.tenant_network_type
    physnet = body.get("provider:physical_network")
    seg = body.get("provider:segmentation_id")
    if ntype not in SUPPORTED_TYPES:
        raise invalid(f"network_type value '{ntype}' not supported")
    if ntype == "flat":
        if seg is not None:
            raise invalid("segmentation_id specified for flat network")
        if not physnet:
            raise invalid("physical_network required for flat provider network")
        if "*" not in cfg.flat_networks and physnet not in cfg.flat_networks:
            raise invalid(f"physical_network '{physnet}' unknown for flat provider network")
        taken = uow.session.scalar(select(m.Network.id).where(m.Network.flat_physnet == physnet))
        if taken:
            raise Conflict(f"Unable to create the flat network. Physical network {physnet} is in use.",
                           type="FlatNetworkInUse")
        return ntype, physnet, None
    if ntype == "local":
        if physnet or seg is not None:
            raise invalid("provider:physical_network and provider:segmentation_id are not allowed for local")
        return ntype, None, None
    if physnet:
        raise invalid("provider:physical_network specified for vxlan network")
    if seg is not None:
        if not 1 <= int(seg) <= 16777215:
            raise invalid(f"{seg} is not a valid VXLAN VNI, valid range is 1 to 16777215")
        if _vnis_taken(uow, {int(seg)}):
            raise Conflict(f"Unable to create the network. The VXLAN {seg} on physical network None is in use.",
                           type="TunnelIdInUse")
        return ntype, None, int(seg)
    return ntype, None, _free_vni(uow, cfg)


def _vnis_taken(uow: UnitOfWork, vnis: set[int]) -> set[int]:
    return set(uow.session.scalars(select(m.Network.segmentation_id).where(
        m.Network.network_type == "vxlan", m.Network.segmentation_id.in_(vnis))))


def _free_vni(uow: UnitOfWork, cfg: NetworkConfig) -> int:
    """Random VNIs probed with one indexed query (the unique constraint settles a race); only a
    nearly exhausted range is read whole."""
    ranges = [(a, b) for a, b in cfg.vxlan_ranges if a <= b]
    total = sum(b - a + 1 for a, b in ranges)
    for _ in range(3):
        picks = set()
        for _ in range(min(64, total)):
            offset = random.randrange(total)
            for a, b in ranges:
                if offset <= b - a:
                    picks.add(a + offset)
                    break
                offset -= b - a + 1
        free = sorted(picks - _vnis_taken(uow, picks))
        if free:
            return random.choice(free)
    used = set(uow.session.scalars(select(m.Network.segmentation_id).where(m.Network.network_type == "vxlan")))
    free = [v for a, b in ranges for v in range(a, b + 1) if v not in used][:256]
    if not free:
        raise Conflict("Unable to create the network. No tenant network is available for allocation.",
                       type="NoNetworkAvailable")
    return random.choice(free)


def create_network(uow: UnitOfWork, caller: Caller, limits: Limits, cfg: NetworkConfig, body: dict) -> m.Network:
    project_id = owner_of(caller, body)
    check_quota(uow, limits, project_id, "network")
    ntype, physnet, seg = _segment(uow, cfg, body)
    mtu = cfg.global_mtu - (50 if ntype == "vxlan" else 0)
    if body.get("mtu") is not None:
        if body["mtu"] > mtu:
            raise invalid(f"Requested MTU is too big, maximum is {mtu}")
        mtu = body["mtu"]
    if body.get("is_default") and not body.get("router:external"):
        raise invalid("is_default can only be set on an external network")
    net = m.Network(
        project_id=project_id, name=body.get("name") or "", description=body.get("description") or "",
        admin_state_up=body.get("admin_state_up", True), shared=body.get("shared", False),
        external=body.get("router:external", False), is_default=body.get("is_default", False), mtu=mtu,
        port_security_enabled=body.get("port_security_enabled", True), network_type=ntype,
        physical_network=physnet, segmentation_id=seg, flat_physnet=physnet if ntype == "flat" else None,
        availability_zone_hints=body.get("availability_zone_hints") or [], dns_domain=body.get("dns_domain") or "",
        tags=sorted(set(body.get("tags") or [])), subnets=[],
    )
    uow.session.add(net)
    uow.session.flush()
    uow.emit(TOPIC_NETWORK, net.id)
    return net


def owner_of(caller: Caller, body: dict) -> str:
    wanted = body.get("project_id") or body.get("tenant_id")
    if body.get("project_id") and body.get("tenant_id") and body["project_id"] != body["tenant_id"]:
        raise invalid("project_id and tenant_id do not match")
    if wanted and wanted != caller.project_id and not caller.is_admin:
        raise BadRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
                         "request requires admin privileges", type="HTTPBadRequest")
    return wanted or caller.project_id


def update_network(uow: UnitOfWork, caller: Caller, network_id: str, body: dict, if_match: str | None = None,
                   cfg: NetworkConfig | None = None) -> m.Network:
    net = get_network(uow, caller, network_id)
    check_revision(net, if_match)
    for key in ("provider:network_type", "provider:physical_network", "provider:segmentation_id"):
        if key in body:
            current = {"provider:network_type": net.network_type, "provider:physical_network": net.physical_network,
                       "provider:segmentation_id": net.segmentation_id}[key]
            if body[key] != current:
                raise invalid("Plugin does not support updating provider attributes")
    if "shared" in body and not body["shared"] and net.shared:
        foreign = uow.session.scalar(select(m.Port.id).where(
            m.Port.network_id == net.id, m.Port.project_id != net.project_id,
            ~m.Port.device_owner.like("network:%")).limit(1))
        if foreign:
            raise in_use(f"Unable to reconfigure sharing settings for network {net.id}. Multiple tenants are "
                         "using it.", "InvalidSharedSetting")
    if body.get("mtu") is not None:
        cfg = cfg or NetworkConfig()
        biggest = cfg.global_mtu - (50 if net.network_type == "vxlan" else 0)
        if body["mtu"] > max(biggest, net.mtu):
            raise invalid(f"Requested MTU is too big, maximum is {max(biggest, net.mtu)}")
    mapping = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
               "shared": "shared", "router:external": "external", "port_security_enabled": "port_security_enabled",
               "mtu": "mtu", "is_default": "is_default", "dns_domain": "dns_domain"}
    for key, attr in mapping.items():
        if key in body and body[key] is not None:
            setattr(net, attr, body[key])
    if "router:external" in body and not body["router:external"]:
        gw = uow.session.scalar(select(m.Router.id).where(m.Router.gw_network_id == net.id).limit(1))
        if gw:
            raise in_use(f"Network {net.id} is used as the external gateway of router {gw}.", "NetworkInUse")
        net.is_default = False
    apply_tags(net, body.get("tags"))
    bump(net)
    uow.emit(TOPIC_NETWORK, net.id)
    return net


def delete_network(uow: UnitOfWork, caller: Caller, network_id: str, if_match: str | None = None) -> None:
    net = get_network(uow, caller, network_id)
    if not caller.is_admin and net.project_id != caller.project_id:
        raise not_found("Network", network_id)
    check_revision(net, if_match)
    ports = list(uow.session.scalars(select(m.Port).where(m.Port.network_id == net.id)))
    busy = [p for p in ports if p.device_owner != DEVICE_OWNER_DHCP]
    if busy:
        raise in_use(f"Unable to complete operation on network {net.id}. There are one or more ports still in "
                     "use on the network.", "NetworkInUse")
    for port in ports:
        uow.session.delete(port)
    uow.session.flush()
    for subnet in list(net.subnets):
        uow.session.delete(subnet)
    uow.session.flush()
    uow.session.delete(net)
    uow.emit(TOPIC_NETWORK, net.id)


# -- subnet pools ----------------------------------------------------------------------------------

def list_subnetpools(uow: UnitOfWork, caller: Caller) -> list[m.SubnetPool]:
    q = select(m.SubnetPool).where(visible(m.SubnetPool, caller, m.SubnetPool.shared.is_(True)))
    return list(uow.session.scalars(q.order_by(m.SubnetPool.created_at, m.SubnetPool.id)))


def get_subnetpool(uow: UnitOfWork, caller: Caller, pool_id: str) -> m.SubnetPool:
    pool = uow.session.get(m.SubnetPool, pool_id)
    if pool is None or not (caller.is_admin or pool.shared or pool.project_id == caller.project_id):
        raise not_found("SubnetPool", pool_id)
    return pool


def _parse_prefixes(prefixes: list[str]) -> tuple[int, list[str]]:
    nets = []
    for p in prefixes:
        try:
            nets.append(ipaddress.ip_network(p, strict=False))
        except ValueError:
            raise invalid(f"'{p}' is not a valid IP subnet") from None
    versions = {n.version for n in nets}
    if len(versions) != 1:
        raise invalid("Illegal subnetpool prefix: prefixes of different IP versions")
    collapsed = [str(n) for n in ipaddress.collapse_addresses(nets)]
    return versions.pop(), collapsed


def create_subnetpool(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict) -> m.SubnetPool:
    project_id = owner_of(caller, body)
    check_quota(uow, limits, project_id, "subnetpool")
    version, prefixes = _parse_prefixes(body["prefixes"])
    maxlen = 32 if version == 4 else 128
    min_len = body.get("min_prefixlen")
    min_len = int(min_len) if min_len is not None else min(ipaddress.ip_network(p).prefixlen for p in prefixes)
    max_len = int(body["max_prefixlen"]) if body.get("max_prefixlen") is not None else maxlen
    default = int(body["default_prefixlen"]) if body.get("default_prefixlen") is not None else min_len
    if not (0 <= min_len <= default <= max_len <= maxlen):
        raise invalid("Illegal prefix bounds: min_prefixlen <= default_prefixlen <= max_prefixlen is required")
    if body.get("is_default"):
        _clear_default_pool(uow, version)
    pool = m.SubnetPool(project_id=project_id, name=body.get("name") or "", description=body.get("description") or "",
                        ip_version=version, prefixes=prefixes, min_prefixlen=min_len, max_prefixlen=max_len,
                        default_prefixlen=default, shared=body.get("shared", False),
                        is_default=body.get("is_default", False), default_quota=body.get("default_quota"),
                        tags=sorted(set(body.get("tags") or [])))
    uow.session.add(pool)
    uow.session.flush()
    return pool


def _clear_default_pool(uow: UnitOfWork, version: int) -> None:
    for other in uow.session.scalars(select(m.SubnetPool).where(m.SubnetPool.is_default.is_(True),
                                                                 m.SubnetPool.ip_version == version)):
        raise Conflict(f"A default subnetpool for this IP family has already been set: {other.id}",
                       type="InvalidInput")


def update_subnetpool(uow: UnitOfWork, caller: Caller, pool_id: str, body: dict, if_match=None) -> m.SubnetPool:
    pool = get_subnetpool(uow, caller, pool_id)
    check_revision(pool, if_match)
    if "prefixes" in body:
        version, prefixes = _parse_prefixes(list(pool.prefixes) + list(body["prefixes"]))
        old = [ipaddress.ip_network(p) for p in pool.prefixes]
        for p in old:
            if not any(p.subnet_of(ipaddress.ip_network(n)) for n in prefixes if ipaddress.ip_network(n).version
                       == p.version):
                raise invalid("Illegal update to prefixes: existing prefixes must be retained")
        pool.prefixes = prefixes
    for key in ("name", "description", "default_prefixlen", "min_prefixlen", "max_prefixlen", "default_quota"):
        if key in body:
            setattr(pool, key, body[key] if body[key] is not None else getattr(pool, key))
    if body.get("is_default") and not pool.is_default:
        _clear_default_pool(uow, pool.ip_version)
    if "is_default" in body:
        pool.is_default = bool(body["is_default"])
    apply_tags(pool, body.get("tags"))
    bump(pool)
    return pool


def delete_subnetpool(uow: UnitOfWork, caller: Caller, pool_id: str, if_match=None) -> None:
    pool = get_subnetpool(uow, caller, pool_id)
    check_revision(pool, if_match)
    if uow.session.scalar(select(m.Subnet.id).where(m.Subnet.subnetpool_id == pool.id).limit(1)):
        raise in_use(f"Subnet pool {pool.id} cannot be deleted: it is in use by subnets.", "SubnetPoolInUse")
    uow.session.delete(pool)


def _allocate_prefix(uow: UnitOfWork, pool: m.SubnetPool, prefixlen: int | None, cidr: str | None) -> str:
    used = [ipaddress.ip_network(c) for c in uow.session.scalars(
        select(m.Subnet.cidr).where(m.Subnet.subnetpool_id == pool.id))]
    if cidr:
        net = ipaddress.ip_network(cidr)
        if not any(net.version == ipaddress.ip_network(p).version and net.subnet_of(ipaddress.ip_network(p))
                   for p in pool.prefixes):
            raise invalid(f"Cidr {cidr} is not in the subnet pool's prefixes")
        if any(net.overlaps(u) for u in used):
            raise Conflict(f"Prefix {cidr} overlaps with an allocated prefix in subnetpool {pool.id}",
                           type="SubnetAllocationError")
        return str(net)
    plen = int(prefixlen) if prefixlen is not None else pool.default_prefixlen
    if not pool.min_prefixlen <= plen <= pool.max_prefixlen:
        raise invalid(f"Illegal prefix length {plen}: must be between {pool.min_prefixlen} and "
                      f"{pool.max_prefixlen}")
    for prefix in pool.prefixes:
        base = ipaddress.ip_network(prefix)
        if base.prefixlen > plen:
            continue
        for candidate in base.subnets(new_prefix=plen):
            if not any(candidate.overlaps(u) for u in used):
                return str(candidate)
    raise Conflict(f"Insufficient prefix space to allocate subnet size /{plen}", type="SubnetAllocationError")


# -- subnets ---------------------------------------------------------------------------------------

def list_subnets(uow: UnitOfWork, caller: Caller) -> list[m.Subnet]:
    q = select(m.Subnet).join(m.Network, m.Subnet.network_id == m.Network.id)
    if not caller.is_admin:
        # as upstream: other projects see an external network, not its subnets (unless it is shared)
        q = q.where(or_(m.Subnet.project_id == caller.project_id, m.Network.shared.is_(True)))
    return list(uow.session.scalars(q.order_by(m.Subnet.created_at, m.Subnet.id)))


def get_subnet(uow: UnitOfWork, caller: Caller, subnet_id: str) -> m.Subnet:
    subnet = uow.session.get(m.Subnet, subnet_id)
    if subnet is None or not (caller.is_admin or subnet.project_id == caller.project_id or subnet.network.shared):
        raise not_found("Subnet", subnet_id)
    return subnet


def _ip(value: str, what: str, version: int | None = None):
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise invalid(f"'{value}' is not a valid IP address") from None
    if version and addr.version != version:
        raise invalid(f"{what} {value} does not match the subnet IP version")
    return addr


def _check_pools(pools: list[dict], net, gateway: str | None) -> list[dict]:
    ranges = []
    for pool in pools:
        a, b = _ip(pool["start"], "start", net.version), _ip(pool["end"], "end", net.version)
        if a not in net or b not in net:
            raise BadRequest(f"The allocation pool {a}-{b} spans beyond the subnet cidr {net}.",
                             type="OutOfBoundsAllocationPool")
        if int(a) > int(b):
            raise BadRequest(f"The allocation pool {a}-{b} is not valid.", type="InvalidAllocationPool")
        ranges.append((int(a), int(b)))
    ranges.sort()
    for (_, b1), (a2, _) in zip(ranges, ranges[1:], strict=False):
        if a2 <= b1:
            raise BadRequest("Found overlapping allocation pools.", type="OverlappingAllocationPools")
    if gateway:
        g = int(ipaddress.ip_address(gateway))
        if any(a <= g <= b for a, b in ranges):
            raise Conflict(f"Gateway ip {gateway} conflicts with allocation pool.",
                           type="GatewayConflictWithAllocationPools")
    cls = ipaddress.ip_address
    return [{"start": str(cls(a)), "end": str(cls(b))} for a, b in ranges]


def _check_dns_routes(body: dict, version: int) -> None:
    for ns in body.get("dns_nameservers") or []:
        _ip(ns, "nameserver")
    if len(set(body.get("dns_nameservers") or [])) != len(body.get("dns_nameservers") or []):
        raise invalid("Duplicate nameserver")
    for route in body.get("host_routes") or []:
        try:
            dest = ipaddress.ip_network(route["destination"])
        except (ValueError, KeyError):
            raise invalid(f"Invalid host route {route}") from None
        nexthop = _ip(route.get("nexthop", ""), "nexthop")
        if dest.version != version or nexthop.version != version:
            raise invalid(f"Host route {route} does not match the subnet IP version")


def _ipv6_modes(body: dict, version: int) -> tuple[str | None, str | None]:
    ra, addr = body.get("ipv6_ra_mode"), body.get("ipv6_address_mode")
    if version == 4 and (ra or addr):
        raise invalid("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False or "
                      "ip_version is 4")
    if ra and addr and ra != addr:
        raise invalid(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not valid. If "
                      "both attributes are set, they must be the same value")
    return ra, addr


def create_subnet(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict) -> m.Subnet:
    net = get_network(uow, caller, body["network_id"])
    if not caller.is_admin and net.project_id != caller.project_id and not net.shared:
        from onestack.core.errors import Forbidden

        raise Forbidden("(rule:create_subnet) is disallowed by policy", type="PolicyNotAuthorized")
    project_id = owner_of(caller, body)
    check_quota(uow, limits, project_id, "subnet")
    version = int(body.get("ip_version") or 4)
    pool = None
    pool_id = body.get("subnetpool_id")
    if not pool_id and body.get("use_default_subnetpool"):
        pool = uow.session.scalar(select(m.SubnetPool).where(m.SubnetPool.is_default.is_(True),
                                                             m.SubnetPool.ip_version == version))
        if pool is None:
            raise BadRequest(f"No default subnetpool found for IPv{version}", type="BadRequest")
    elif pool_id:
        pool = get_subnetpool(uow, caller, pool_id)
        if pool.ip_version != version:
            raise invalid(f"Cannot allocate IPv{version} subnet from IPv{pool.ip_version} subnet pool")
    cidr = body.get("cidr")
    if cidr:
        try:
            net_cidr = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise invalid(f"'{cidr}' is not a valid IP subnet") from None
        if str(net_cidr) != str(ipaddress.ip_network(cidr, strict=False)) or (
                ipaddress.ip_interface(cidr).ip != net_cidr.network_address):
            raise invalid(f"'{cidr}' isn't a recommended CIDR, '{net_cidr}' is recommended")
        if net_cidr.version != version:
            raise invalid("Cidr and ip_version mismatch")
        if version == 4 and net_cidr.prefixlen > 30 and body.get("gateway_ip", "x") is not None and False:
            pass
    elif pool is None:
        raise BadRequest("Bad subnets request: a cidr must be specified in the absence of a subnet pool",
                         type="BadRequest")
    if pool is not None:
        cidr = _allocate_prefix(uow, pool, body.get("prefixlen"), cidr)
    net_cidr = ipaddress.ip_network(cidr)
    if version == 6 and net_cidr.prefixlen != 64 and (body.get("ipv6_address_mode") in ("slaac", "dhcpv6-stateless")
                                                      or body.get("ipv6_ra_mode") in ("slaac", "dhcpv6-stateless")):
        raise invalid(f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, "
                      "which requires the prefix to be /64")
    for other in net.subnets:
        if ipaddress.ip_network(other.cidr).overlaps(net_cidr):
            raise invalid(f"Requested subnet with cidr: {cidr} for network: {net.id} overlaps with another subnet")
    ra, addr_mode = _ipv6_modes(body, version)
    if "gateway_ip" in body:
        gateway = body["gateway_ip"]
        if gateway is not None:
            g = _ip(gateway, "gateway_ip", version)
            gateway = str(g)
            if version == 4 and g in (net_cidr.network_address, net_cidr.broadcast_address) and \
                    net_cidr.prefixlen < 31:
                raise invalid(f"Gateway is not valid on subnet {cidr}")
    else:
        gateway = str(net_cidr.network_address + 1) if net_cidr.num_addresses > 2 or version == 6 else None
    if body.get("allocation_pools"):
        pools = _check_pools(body["allocation_pools"], net_cidr, gateway)
    else:
        pools = ipam.default_pools(str(net_cidr), gateway)
    _check_dns_routes(body, version)
    subnet = m.Subnet(
        project_id=project_id, network_id=net.id, name=body.get("name") or "",
        description=body.get("description") or "", ip_version=version, cidr=str(net_cidr), gateway_ip=gateway,
        enable_dhcp=body.get("enable_dhcp", True), ipv6_ra_mode=ra, ipv6_address_mode=addr_mode,
        allocation_pools=pools, dns_nameservers=list(body.get("dns_nameservers") or []),
        host_routes=list(body.get("host_routes") or []), subnetpool_id=pool.id if pool else None,
        tags=sorted(set(body.get("tags") or [])),
    )
    uow.session.add(subnet)
    uow.session.flush()
    _auto_addresses(uow, subnet)
    if serves_dhcp(subnet):
        ensure_dhcp_port(uow, net, subnet)
    uow.emit(TOPIC_NETWORK, net.id)
    return subnet


def serves_dhcp(subnet: m.Subnet) -> bool:
    """DHCPv4, or DHCPv6 (stateful addresses, or stateless options next to SLAAC)."""
    if not subnet.enable_dhcp:
        return False
    return subnet.ip_version == 4 or subnet.ipv6_address_mode in ("dhcpv6-stateful", "dhcpv6-stateless")


def _auto_addresses(uow: UnitOfWork, subnet: m.Subnet) -> None:
    """SLAAC subnets give every existing (non-router) port an address, as upstream."""
    if not ipam.is_auto_address(subnet):
        return
    for port in uow.session.scalars(select(m.Port).where(m.Port.network_id == subnet.network_id)):
        if port.device_owner.startswith("network:router"):
            continue
        port.fixed_ips.append(m.IPAllocation(subnet_id=subnet.id, network_id=subnet.network_id,
                                             ip_address=ipam.eui64(subnet.cidr, port.mac_address),
                                             ip_order=len(port.fixed_ips)))
        bump(port)


def ensure_dhcp_port(uow: UnitOfWork, net: m.Network, subnet: m.Subnet) -> None:
    port = uow.session.scalar(select(m.Port).where(m.Port.network_id == net.id,
                                                   m.Port.device_owner == DEVICE_OWNER_DHCP))
    if port is None:
        port = m.Port(project_id=net.project_id, network_id=net.id, mac_address=ipam.random_mac(),
                      device_owner=DEVICE_OWNER_DHCP, device_id=f"dhcp-{net.id}", status="ACTIVE",
                      port_security_enabled=False)
        uow.session.add(port)
    if any(a.subnet_id == subnet.id for a in port.fixed_ips):
        return
    try:
        ip = ipam.eui64(subnet.cidr, port.mac_address) if ipam.is_auto_address(subnet) else \
            ipam.allocate(uow, subnet)
    except Conflict:
        return  # a full subnet still gets created; DHCP is served once an address frees up
    port.fixed_ips.append(m.IPAllocation(subnet_id=subnet.id, network_id=net.id, ip_address=ip,
                                         ip_order=len(port.fixed_ips)))


def update_subnet(uow: UnitOfWork, caller: Caller, subnet_id: str, body: dict, if_match=None) -> m.Subnet:
    subnet = get_subnet(uow, caller, subnet_id)
    if not caller.is_admin and subnet.project_id != caller.project_id:
        raise not_found("Subnet", subnet_id)
    check_revision(subnet, if_match)
    for key in ("cidr", "ip_version", "network_id", "subnetpool_id", "ipv6_ra_mode", "ipv6_address_mode"):
        if key in body and body[key] != getattr(subnet, key):
            raise invalid(f"Cannot update read-only attribute {key}")
    net_cidr = ipaddress.ip_network(subnet.cidr)
    if "gateway_ip" in body:
        gw = body["gateway_ip"]
        if gw is not None:
            gw = str(_ip(gw, "gateway_ip", subnet.ip_version))
            if ipaddress.ip_address(gw) not in net_cidr:
                raise invalid(f"Gateway ip {gw} is not in subnet {subnet.cidr}")
        subnet.gateway_ip = gw
    if "allocation_pools" in body and body["allocation_pools"] is not None:
        subnet.allocation_pools = _check_pools(body["allocation_pools"], net_cidr, subnet.gateway_ip)
    elif "gateway_ip" in body and subnet.gateway_ip:
        _check_pools(subnet.allocation_pools, net_cidr, subnet.gateway_ip)
    _check_dns_routes(body, subnet.ip_version)
    for key in ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes"):
        if key in body and body[key] is not None:
            setattr(subnet, key, list(body[key]) if isinstance(body[key], list) else body[key])
    if serves_dhcp(subnet):
        ensure_dhcp_port(uow, subnet.network, subnet)
    apply_tags(subnet, body.get("tags"))
    bump(subnet)
    uow.emit(TOPIC_NETWORK, subnet.network_id)
    return subnet


def delete_subnet(uow: UnitOfWork, caller: Caller, subnet_id: str, if_match=None) -> None:
    subnet = get_subnet(uow, caller, subnet_id)
    if not caller.is_admin and subnet.project_id != caller.project_id and subnet.network.project_id != \
            caller.project_id:
        raise not_found("Subnet", subnet_id)
    check_revision(subnet, if_match)
    allocs = list(uow.session.scalars(select(m.IPAllocation).where(m.IPAllocation.subnet_id == subnet.id)))
    auto = ipam.is_auto_address(subnet)
    for alloc in allocs:
        port = alloc.port
        if port.device_owner == DEVICE_OWNER_DHCP or (auto and not port.device_owner.startswith("network:router")):
            continue
        raise in_use(f"Unable to complete operation on subnet {subnet.id}: One or more ports have an IP "
                     "allocation from this subnet.", "SubnetInUse")
    for alloc in allocs:
        port = alloc.port
        port.fixed_ips.remove(alloc)
        bump(port)
        if port.device_owner == DEVICE_OWNER_DHCP and not port.fixed_ips:
            uow.session.delete(port)
    uow.session.flush()
    uow.session.delete(subnet)
    uow.emit(TOPIC_NETWORK, subnet.network_id)
    uow.emit(TOPIC_FIREWALL, "all")
