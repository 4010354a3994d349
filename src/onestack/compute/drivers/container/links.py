"""A guest NIC's veth pair made by one rtnetlink request, not by running ``ip``.

Every boot makes a pair per NIC: as tools that was ``ip link add`` then ``ip link set master/up``, two forks
and execs (a few milliseconds of CPU each, more on a busy host). ``add_veth`` sends the one RTM_NEWLINK
message ``ip link add <host> mtu M master <bridge> up type veth peer name <peer> mtu M`` sends: the pair
is made with its host end up and on its bridge in a single step, or not at all.
"""

from __future__ import annotations

import os
import socket
import struct

from .errors import ContainerError

RTM_NEWLINK, RTM_DELLINK = 16, 17
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 3, 4, 10, 18
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFF_UP = 0x1


def _attr(kind: int, data: bytes) -> bytes:
    size = 4 + len(data)
    return struct.pack("=HH", size, kind) + data + bytes(-size % 4)


def _ifinfo(flags: int = 0, change: int = 0) -> bytes:
    """struct ifinfomsg: family, pad, type, index, flags, change."""
    return struct.pack("=BBHiII", socket.AF_UNSPEC, 0, 0, 0, flags, change)


def _name(name: str) -> bytes:
    return _attr(IFLA_IFNAME, name.encode() + b"\0")


def _request(kind: int, flags: int, body: bytes, what: str) -> None:
    """Send one rtnetlink request and wait for its acknowledgement."""
    msg = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, 1, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        s.sendto(msg, (0, 0))
        while True:
            reply = s.recv(65536)
            offset = 0
            while offset + 16 <= len(reply):
                length, mtype = struct.unpack_from("=IH", reply, offset)
                if mtype == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", reply, offset + 16)
                    if error:
                        raise ContainerError(f"{what}: {os.strerror(-error)}")
                    return
                offset += max(16, (length + 3) & ~3)


def add_veth(host: str, peer: str, *, mtu: int | None = None, bridge: str | None = None) -> None:
    """The pair ``host``/``peer`` (both ends ``mtu``), ``host`` up and, when given, on ``bridge``."""
    mtu_attr = _attr(IFLA_MTU, struct.pack("=I", mtu)) if mtu else b""
    master = b""
    if bridge:
        try:
            with open(f"/sys/class/net/{bridge}/ifindex") as f:
                master = _attr(IFLA_MASTER, struct.pack("=I", int(f.read())))
        except (OSError, ValueError):
            raise ContainerError(f"ip link add {host}: bridge {bridge} does not exist") from None
    peer_info = _attr(VETH_INFO_PEER, _ifinfo() + _name(peer) + mtu_attr)
    linkinfo = _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, b"veth\0") + _attr(IFLA_INFO_DATA, peer_info))
    _request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(IFF_UP, IFF_UP) + _name(host) + mtu_attr + master
             + linkinfo, f"ip link add {host} type veth peer name {peer}")


def delete_link(name: str) -> None:
    """``ip link del <name>`` (a veth takes its peer with it)."""
    _request(RTM_DELLINK, 0, _ifinfo() + _name(name), f"ip link del {name}")
