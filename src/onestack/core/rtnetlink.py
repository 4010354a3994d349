"""The few rtnetlink messages the data planes send themselves, without a library: one request, one ack.

pyroute2 costs ~0.25 ms of CPU per request (~1 ms in a busy process); a boot's hot path makes a link or two
and sets a port's attributes, ~30 us each this way. Anything richer goes through pyroute2.
"""

from __future__ import annotations

import socket
import struct

RTM_NEWLINK, RTM_DELLINK = 16, 17
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_GROUP, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 27, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFF_UP = 0x1


def attr(kind: int, data: bytes) -> bytes:
    size = 4 + len(data)
    return struct.pack("=HH", size, kind) + data + bytes(-size % 4)


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """struct ifinfomsg: family, pad, type, index, flags, change."""
    return struct.pack("=BBHiII", socket.AF_UNSPEC, 0, 0, index, flags, change)


def open_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    sock.settimeout(10)
    sock.bind((0, 0))
    return sock


def request(sock: socket.socket, kind: int, flags: int, body: bytes, seq: int = 1) -> int:
    """Send one request and wait for the kernel's ack of it: 0, or the errno it failed with. Answers to
    earlier requests abandoned on this socket are skipped."""
    sock.send(struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0) + body)
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, mtype, _flags, got, _pid = struct.unpack_from("=IHHII", data, offset)
            if mtype == NLMSG_ERROR and got == seq:
                return -struct.unpack_from("=i", data, offset + 16)[0]
            offset += max((length + 3) & ~3, 16)
