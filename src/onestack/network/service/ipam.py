"""IP address management: free addresses are picked at random (probed with one indexed query), and
the unique (subnet_id, ip_address) constraint settles races (the loser retries, see ``common.write``)."""

from __future__ import annotations

import functools
import ipaddress
import random
import secrets

from sqlalchemy import bindparam, select

from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import invalid

FIRST_CANDIDATES = 8
CANDIDATES = 64


def default_pools(cidr: str, gateway: str | None) -> list[dict]:
    net = ipaddress.ip_network(cidr)
    if net.version == 4:
        if net.prefixlen >= 31:
            first, last = int(net.network_address), int(net.broadcast_address)
        else:
            first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    else:
        first, last = int(net.network_address) + 1, int(net.broadcast_address)
    pools = [(first, last)]
    if gateway:
        g = int(ipaddress.ip_address(gateway))
        out = []
        for a, b in pools:
            if a <= g <= b:
                if a < g:
                    out.append((a, g - 1))
                if g < b:
                    out.append((g + 1, b))
            else:
                out.append((a, b))
        pools = out
    cls = ipaddress.ip_address
    return [{"start": str(cls(a)), "end": str(cls(b))} for a, b in pools]


@functools.lru_cache(maxsize=4096)
def _ranges(pools: tuple[tuple[str, str], ...]) -> tuple[tuple[int, int], ...]:
    return tuple((int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))) for a, b in pools)


def pool_ranges(subnet: m.Subnet) -> tuple[tuple[int, int], ...]:
    """The pools as integer ranges (parsed once per distinct pool list: this runs in every port create)."""
    return _ranges(tuple((p["start"], p["end"]) for p in subnet.allocation_pools))


def pool_size(subnet: m.Subnet) -> int:
    return sum(b - a + 1 for a, b in pool_ranges(subnet))


def used_ips(uow: UnitOfWork, subnet_id: str) -> set[str]:
    return set(uow.session.scalars(select(m.IPAllocation.ip_address).where(m.IPAllocation.subnet_id == subnet_id)))


def is_auto_address(subnet: m.Subnet) -> bool:
    return subnet.ip_version == 6 and subnet.ipv6_address_mode in ("slaac", "dhcpv6-stateless")


def eui64(cidr: str, mac: str) -> str:
    net = ipaddress.ip_network(cidr)
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.ip_address(int(net.network_address) + int.from_bytes(bytes(iid), "big")))


def check_requested(uow: UnitOfWork, subnet: m.Subnet, ip: str, router_port: bool = False) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise invalid(f"{ip!r} is not a valid IP address") from None
    net = ipaddress.ip_network(subnet.cidr)
    if addr not in net:
        raise invalid(f"IP address {ip} is not a valid IP for the specified subnet")
    if net.version == 4 and net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
        raise invalid(f"IP address {ip} is not a valid IP for the specified subnet")
    if net.version == 6 and addr == net.network_address and not router_port:
        raise invalid(f"IP address {ip} is not a valid IP for the specified subnet")
    ip = str(addr)
    taken = uow.session.scalar(select(m.IPAllocation.id).where(m.IPAllocation.subnet_id == subnet.id,
                                                               m.IPAllocation.ip_address == ip))
    if taken is not None or (ip == subnet.gateway_ip and not router_port):
        raise Conflict(f"Unable to complete operation for network {subnet.network_id}. The IP address {ip} "
                       "is in use.", type="IpAddressInUse")
    return ip


def _offset_to_ip(ranges: list[tuple[int, int]], offset: int) -> int:
    for a, b in ranges:
        if offset <= b - a:
            return a + offset
        offset -= b - a + 1
    raise ValueError(offset)


_IPS = m.IPAllocation.__table__.c
_TAKEN = select(_IPS.ip_address).where(_IPS.subnet_id == bindparam("subnet_id"),
                                       _IPS.ip_address.in_(bindparam("ips", expanding=True)))


def allocate(uow: UnitOfWork, subnet: m.Subnet) -> str:
    """A free address of ``subnet``'s pools: random candidates checked with one indexed ``IN`` query
    (the unique constraint settles a race).  A sparse pool answers the first few candidates; more
    are probed only when those were taken, and only a nearly full pool is walked."""
    ranges = pool_ranges(subnet)
    total = sum(b - a + 1 for a, b in ranges)
    cls = ipaddress.IPv4Address if subnet.ip_version == 4 else ipaddress.IPv6Address
    conn = uow.session.connection()
    for count in (FIRST_CANDIDATES, CANDIDATES, CANDIDATES) if total > CANDIDATES else (total,):
        offsets = {random.randrange(total) for _ in range(count)} if total > CANDIDATES else range(total)
        picks = {str(cls(_offset_to_ip(ranges, o))) for o in offsets}
        if not picks:
            break
        taken = set(conn.execute(_TAKEN, {"subnet_id": subnet.id, "ips": list(picks)}).scalars())
        free = sorted(picks - taken)
        if free:
            return random.choice(free)
    if total > CANDIDATES:
        used = used_ips(uow, subnet.id)
        for a, b in ranges:
            for i in range(a, b + 1):
                ip = str(cls(i))
                if ip not in used:
                    return ip
    raise Conflict(f"No more IP addresses available on network {subnet.network_id}.",
                   type="IpAddressGenerationFailure")


def random_mac() -> str:
    tail = secrets.token_bytes(3)
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in tail)
