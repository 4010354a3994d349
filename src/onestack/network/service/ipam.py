"""IP address management: free addresses are picked at random (probed with one indexed query), and
the unique (subnet_id, ip_address) constraint settles races (the loser retries, see ``common.write``)."""

from __future__ import annotations

import ipaddress
import random
import secrets

from sqlalchemy import select

from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import invalid

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


def pool_ranges(subnet: m.Subnet) -> list[tuple[int, int]]:
    return [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
            for p in subnet.allocation_pools]


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


def allocate(uow: UnitOfWork, subnet: m.Subnet) -> str:
    """A free address of ``subnet``'s pools: random candidates checked with one indexed ``IN`` query
    (the unique constraint settles a race); only a nearly full pool is walked."""
    ranges = pool_ranges(subnet)
    total = sum(b - a + 1 for a, b in ranges)
    for _ in range(3 if total > CANDIDATES else 1):
        if total > CANDIDATES:
            offsets = {random.randrange(total) for _ in range(CANDIDATES)}
        else:
            offsets = set(range(total))
        picks = {str(ipaddress.ip_address(_offset_to_ip(ranges, o))) for o in offsets}
        if not picks:
            break
        taken = set(uow.session.scalars(select(m.IPAllocation.ip_address).where(
            m.IPAllocation.subnet_id == subnet.id, m.IPAllocation.ip_address.in_(picks))))
        free = sorted(picks - taken)
        if free:
            return random.choice(free)
    if total > CANDIDATES:
        used = used_ips(uow, subnet.id)
        for a, b in ranges:
            for i in range(a, b + 1):
                ip = str(ipaddress.ip_address(i))
                if ip not in used:
                    return ip
    raise Conflict(f"No more IP addresses available on network {subnet.network_id}.",
                   type="IpAddressGenerationFailure")


def random_mac() -> str:
    tail = secrets.token_bytes(3)
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in tail)
