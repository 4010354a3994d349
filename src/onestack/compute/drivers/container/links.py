"""A guest NIC's veth pair made by one rtnetlink request, not by running ``ip``.

Every boot makes a pair per NIC: as tools that was ``ip link add`` then ``ip link set master/up``, two forks
and execs (a few milliseconds of CPU each, more on a busy host). ``add_veth`` sends the one RTM_NEWLINK
message ``ip link add <host> mtu M master <bridge> up type veth peer name <peer> mtu M`` sends: the pair
is made with its host end up and on its bridge in a single step, or not at all.
"""

from __future__ import annotations

import os

from onestack.core import rtnetlink as nl

from .errors import ContainerError


def _name(name: str) -> bytes:
    return nl.attr(nl.IFLA_IFNAME, name.encode() + b"\0")


def _request(kind: int, flags: int, body: bytes, what: str) -> None:
    with nl.open_socket() as sock:
        error = nl.request(sock, kind, flags, body)
    if error:
        raise ContainerError(f"{what}: {os.strerror(error)}")


def add_veth(host: str, peer: str, *, mtu: int | None = None, bridge: str | None = None) -> None:
    """The pair ``host``/``peer`` (both ends ``mtu``), ``host`` up and, when given, on ``bridge``."""
    mtu_attr = nl.u32(nl.IFLA_MTU, mtu) if mtu else b""
    master = b""
    if bridge:
        try:
            with open(f"/sys/class/net/{bridge}/ifindex") as f:
                master = nl.u32(nl.IFLA_MASTER, int(f.read()))
        except (OSError, ValueError):
            raise ContainerError(f"ip link add {host}: bridge {bridge} does not exist") from None
    peer_info = nl.attr(nl.VETH_INFO_PEER, nl.ifinfo() + _name(peer) + mtu_attr)
    linkinfo = nl.attr(nl.IFLA_LINKINFO, nl.attr(nl.IFLA_INFO_KIND, b"veth\0") + nl.attr(nl.IFLA_INFO_DATA, peer_info))
    _request(nl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL,
             nl.ifinfo(flags=nl.IFF_UP, change=nl.IFF_UP) + _name(host) + mtu_attr + master + linkinfo,
             f"ip link add {host} type veth peer name {peer}")


def delete_link(name: str) -> None:
    """``ip link del <name>`` (a veth takes its peer with it)."""
    _request(nl.RTM_DELLINK, 0, nl.ifinfo() + _name(name), f"ip link del {name}")
