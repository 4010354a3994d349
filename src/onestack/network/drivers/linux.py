"""The Linux data plane: bridges, VXLAN, namespaces (pyroute2), dnsmasq, radvd and nftables.

Everything this driver creates carries its prefix (``<p>``, at most 4 characters) so several
agents and parallel tests never collide:

- per network: bridge ``<p>b<net>``, VXLAN ``<p>x<net>`` (head-end replication to the peers,
  ``nolearning``), for external networks the gateway address on the bridge and an nftables table
  ``ip <p>_ext_<net>`` masquerading the subnet out of the host;
- DHCP: namespace ``<p>-dhcp-<net>`` joined to the bridge by a veth (``<p>d<net>`` / ``ns-dhcp``)
  with dnsmasq in the foreground, supervised here (one host entry file per port in directories dnsmasq
  watches; SIGHUP only when an entry goes or changes);
- routers: namespace ``<p>-r-<router>``, veths ``<p>r<port>``/``qr-<port>`` per interface and
  ``<p>g<port>``/``qg-<port>`` for the gateway, nftables table ``ip neutron`` inside (SNAT, floating
  IP DNAT/SNAT, metadata redirect) and a metadata proxy listening in the namespace;
- security groups: nftables tables ``bridge <p>_sg`` (per-port chains on the bridge ports, remote
  groups as address sets) and ``inet <p>_sgct`` (conntrack state under br_netfilter, handed to the
  bridge chains in the packet mark), see the ruleset section below.

With ``host_netns`` the whole "host" side lives in that namespace (tests run one per agent).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import hmac
import http.client
import ipaddress
import logging
import os
import select
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from pyroute2 import IPRoute, NetNS, netns
from pyroute2.netlink.exceptions import NetlinkError

from onestack.core import rtnetlink as nl
from onestack.core.netns import entered_named

from .base import (
    Capabilities,
    DhcpSpec,
    FirewallPort,
    FirewallRule,
    NetworkDriver,
    NetworkSpec,
    PortSpec,
    RouterInterface,
    RouterSpec,
)

log = logging.getLogger(__name__)

METADATA_IP = "169.254.169.254"
METADATA_PORT = 9697
SIOCGIFINDEX = 0x8933
RTMGRP_LINK = 1
ATTACHED_RECHECK_SECONDS = 60.0  # an attached port device's bridge, MTU and state are set again this often


class LinuxDriverError(RuntimeError):
    pass


_libc = ctypes.CDLL(None, use_errno=True)


def _run(cmd: list[str], ns: str | None = None, input: str | None = None, check: bool = True) -> str:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else cmd
    proc = subprocess.run(full, input=input, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise LinuxDriverError(f"{' '.join(full)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _ok(cmd: list[str], ns: str | None = None) -> bool:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else cmd
    return subprocess.run(full, capture_output=True, timeout=30).returncode == 0


def _sysctl(key: str, value: str, ns: str | None = None) -> None:
    """Write a (per-namespace) sysctl through /proc/sys; no dependency on procps."""
    path = "/proc/sys/" + key.replace(".", "/")
    _run(["sh", "-c", f"[ ! -e {path} ] || echo {value} > {path}"], ns)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervising agent goes away, however it ends."""
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _trunc(name: str, length: int = 15) -> str:
    return name[:length]


class _Nft:
    """nft scripts run by libnftables in this process (one transaction per script, as ``nft -f -``): no
    process to start per run (~0.5 ms of CPU here and ~7 ms wall each, plus nft's own), and the caller's
    thread waits in C without the GIL.  The context is made, and every script run, in the namespace given
    (the library's netlink socket then lives there).  Not thread-safe: callers serialize (``fw_lock``).
    Without the library, ``nft -f -`` as before."""

    def __init__(self, ns: str | None) -> None:
        self.ns = ns
        self._lib = None
        self._ctx = None
        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError:
            return
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self._lib = lib

    def run(self, script: str) -> None:
        if self._lib is None:
            _run(["nft", "-f", "-"], self.ns, input=script)
            return
        lib = self._lib
        with entered_named(self.ns) if self.ns else contextlib.nullcontext():
            if self._ctx is None:
                ctx = lib.nft_ctx_new(0)
                if not ctx:
                    raise LinuxDriverError("nft_ctx_new failed")
                lib.nft_ctx_buffer_output(ctx)
                lib.nft_ctx_buffer_error(ctx)
                self._ctx = ctx
            rc = lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
        lib.nft_ctx_get_output_buffer(self._ctx)  # drained: the buffers start empty for the next run
        error = (lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode(errors="replace").strip()
        if rc != 0:
            raise LinuxDriverError(f"nft -f - (libnftables) failed: {error}")

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


class _MetadataHandler(BaseHTTPRequestHandler):
    server: MetadataProxy
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # noqa: D401 - quiet
        log.debug("metadata %s " + fmt, self.client_address[0], *args)

    def _proxy(self) -> None:
        src = self.client_address[0]
        target = self.server.targets.get(src)
        if target is None:
            self.send_error(404, "Unknown instance")
            return
        instance_id, project_id = target
        url = urllib.parse.urlsplit(self.server.upstream)
        body = None
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            "X-Forwarded-For": src, "X-Instance-ID": instance_id, "X-Tenant-ID": project_id,
            "X-Instance-ID-Signature": hmac.new(self.server.secret.encode(), instance_id.encode(),
                                                hashlib.sha256).hexdigest(),
        }
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
            conn.request(self.command, url.path.rstrip("/") + self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            self.send_error(502, f"metadata service unreachable: {exc}")
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type") or "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _proxy
    do_POST = _proxy


class MetadataProxy(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Listens inside a router namespace; identifies the instance by its fixed IP."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ns: str, upstream: str, secret: str) -> None:
        super().__init__(("0.0.0.0", METADATA_PORT), _MetadataHandler, bind_and_activate=False)
        self.socket.close()
        with entered_named(ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", METADATA_PORT))
        sock.listen(64)
        self.socket = sock
        self.upstream = upstream
        self.secret = secret
        self.targets: dict[str, tuple[str, str]] = {}
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"metadata-{ns}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _new_link_names(data: bytes) -> list[str]:
    """The interface names of the RTM_NEWLINK messages in one netlink datagram (nlmsghdr, ifinfomsg, then
    the attributes; IFLA_IFNAME is a NUL-terminated string)."""
    names = []
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if kind == nl.RTM_NEWLINK:
            pos, end = off + 32, min(off + length, len(data))
            while pos + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if atype & 0x3FFF == nl.IFLA_IFNAME:
                    names.append(data[pos + 4:pos + alen].split(b"\0", 1)[0].decode(errors="replace"))
                    break
                pos += (alen + 3) & ~3
        off += (length + 3) & ~3
    return names


class LinuxNetworkDriver(NetworkDriver):
    capabilities = Capabilities(stateful_security_groups=True, vxlan=True, device_events=True)

    def __init__(self, prefix: str, state_dir: str, host_netns: str | None = None, tunnel_ip: str | None = None,
                 tunnel_dev: str | None = None, bridge_mappings: dict[str, str] | None = None,
                 metadata_url: str = "", metadata_secret: str = "") -> None:
        if not prefix or len(prefix) > 4 or not prefix.isalnum():
            raise ValueError("the kernel object prefix must be 1-4 alphanumeric characters")
        self.p = prefix
        self.state = Path(state_dir)
        self.host_ns = host_netns
        self.tunnel_ip = tunnel_ip
        self.tunnel_dev = tunnel_dev
        self.mappings = bridge_mappings or {}
        self.metadata_url = metadata_url
        self.metadata_secret = metadata_secret
        self.lock = threading.RLock()
        self.dnsmasq: dict[str, subprocess.Popen] = {}
        self.proxies: dict[str, MetadataProxy] = {}
        self.radvd: dict[str, subprocess.Popen] = {}
        self.dhcp_plumbed: dict[str, tuple[tuple, float]] = {}
        # per network: the host entries as last written (hosts.d: file name -> text; dns.d: MAC -> its lines)
        self.dhcp_entries: dict[str, dict[str, dict[str, str]]] = {}
        # per network: (what of the spec the files were written from, the opts text, the dnsmasq args text,
        # what of the spec those two were built from)
        self.dhcp_files: dict[str, tuple[tuple | None, str | None, str | None, tuple | None]] = {}
        self.applied_fips: dict[str, tuple] = {}
        self.fw_lock = threading.Lock()
        self._nft = _Nft(host_netns)  # the security-group ruleset's runs (under fw_lock)
        self.applied_firewall: _Applied | None = None  # None: unknown, the next apply rebuilds the tables
        self._handles = threading.local()  # .host: this thread's netlink handle of the host namespace
        self._handles_lock = threading.Lock()
        self._open_handles: list = []
        self._ioctl_sock: socket.socket | None = None  # a socket of the host namespace, for interface lookups
        self._nl_sock: socket.socket | None = None  # a netlink socket of the host namespace, for _set_link
        self._nl_lock = threading.Lock()
        self._nl_seq = 0
        # port devices as last attached: name -> ((ifindex, bridge ifindex, mtu), when); a check of a port
        # whose device is still the one attached (same index) needs no netlink request
        self.attached: dict[str, tuple[tuple[int, int, int], float]] = {}
        self._watcher: tuple[threading.Thread, threading.Event] | None = None

    # -- names -------------------------------------------------------------------------------------

    def bridge(self, net_id: str) -> str:
        return _trunc(f"{self.p}b{net_id}")

    def vxlan(self, net_id: str) -> str:
        return _trunc(f"{self.p}x{net_id}")

    def dhcp_ns(self, net_id: str) -> str:
        return f"{self.p}-dhcp-{net_id}"

    def router_ns(self, router_id: str) -> str:
        return f"{self.p}-r-{router_id}"

    def ext_table(self, net_id: str) -> str:
        return f"{self.p}_ext_{net_id[:12]}"

    @property
    def chain(self) -> str:
        return f"{self.p}-FWD"

    # -- helpers -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _host(self):
        """A netlink handle of the host namespace, kept per thread: opening one costs a few ms of CPU
        (NetNS: ~4 ms, ~30 ms wall on a loaded host), and every port event opened two or three."""
        handle = getattr(self._handles, "host", None)
        if handle is None:
            handle = NetNS(self.host_ns) if self.host_ns else IPRoute()
            self._handles.host = handle
            with self._handles_lock:
                self._open_handles.append(handle)
        try:
            yield handle
        except OSError:  # the socket itself failed: the next use opens a fresh one
            self._handles.host = None
            self._drop_handle(handle)
            raise

    def _ifindex(self, name: str) -> int | None:
        """A device's index in the host namespace (None: no such device) by one ioctl: ~2 us of CPU where
        pyroute2's ``link_lookup`` costs ~0.5 ms (port checks look up their device and bridge every time)."""
        sock = self._ioctl_sock
        if sock is None:
            with self._handles_lock:
                if self._ioctl_sock is None:
                    if self.host_ns:
                        with entered_named(self.host_ns):  # the socket stays in that namespace
                            self._ioctl_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    else:
                        self._ioctl_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock = self._ioctl_sock
        try:
            reply = fcntl.ioctl(sock, SIOCGIFINDEX, struct.pack("16si", name.encode(), 0))
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return struct.unpack_from("16si", reply)[1]

    def _set_link(self, idx: int, group: int, master: int, mtu: int) -> None:
        """One RTM_NEWLINK request (group, master, MTU, up) on a plain netlink socket of the host namespace,
        answered by the kernel's ack: ~30 us of CPU where pyroute2's ``link("set", ...)`` costs ~0.25 ms
        (~1 ms in a busy process), and every port's plugging makes one."""
        body = nl.ifinfo(idx, nl.IFF_UP, nl.IFF_UP) + nl.u32(nl.IFLA_MTU, mtu) + nl.u32(nl.IFLA_MASTER, master) \
            + nl.u32(nl.IFLA_GROUP, group)
        with self._nl_lock:
            sock = self._nl_sock
            if sock is None:
                with entered_named(self.host_ns) if self.host_ns else contextlib.nullcontext():
                    sock = nl.open_socket()  # (made in that namespace, it stays there)
                self._nl_sock = sock
            self._nl_seq = seq = (self._nl_seq + 1) & 0x7FFFFFFF
            try:
                error = nl.request(sock, nl.RTM_NEWLINK, 0, body, seq)
            except OSError:  # the socket itself failed (or timed out): the next call opens a fresh one
                self._nl_sock = None
                sock.close()
                raise
        if error:
            raise LinuxDriverError(f"setting link {idx}: {os.strerror(error)}")

    def _drop_handle(self, handle) -> None:
        with self._handles_lock:
            if handle in self._open_handles:
                self._open_handles.remove(handle)
        with contextlib.suppress(Exception):
            handle.close()

    def _ensure_ns(self, name: str, router: bool = False) -> None:
        if name not in netns.listnetns():
            netns.create(name)
            with NetNS(name) as ns:
                ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            # before any interface exists: the addresses the API assigned are ours, no duplicate
            # address detection delay; only routers forward (and never take RAs themselves)
            keys = {"net/ipv6/conf/default/accept_dad": 0, "net/ipv6/conf/all/accept_dad": 0,
                    "net/ipv6/conf/default/accept_ra": 0, "net/ipv6/conf/all/accept_ra": 0}
            if router:
                keys.update({"net/ipv4/ip_forward": 1, "net/ipv6/conf/all/forwarding": 1})
            _run(["sh", "-c", "; ".join(f"echo {v} > /proc/sys/{k}" for k, v in keys.items())], name)

    @staticmethod
    @contextlib.contextmanager
    def _ns(name: str):
        """A netlink handle of the existing namespace ``name``, its socket made in it: ~0.8 ms where
        pyroute2's NetNS (a helper of its own) costs ~8 ms wall and ~3 ms of CPU, at every router, DHCP
        and neighbour change."""
        with entered_named(name):
            handle = IPRoute()
        try:
            yield handle
        finally:
            handle.close()

    @staticmethod
    def _idx(ipr, name: str) -> int | None:
        found = ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def _veth(self, host_name: str, peer_name: str, peer_ns: str, bridge: str, mtu: int, mac: str | None = None):
        """A veth pair between the host side (on ``bridge``) and ``peer_ns``; idempotent."""
        with self._host() as ipr:
            idx = self._ifindex(host_name)
            if idx is None:
                with self._ns(peer_ns) as ns:
                    stale = self._idx(ns, peer_name)
                    if stale is not None:
                        ns.link("del", index=stale)
                ipr.link("add", ifname=host_name, kind="veth", peer={"ifname": peer_name, "net_ns_fd": peer_ns})
                idx = self._ifindex(host_name)
            br = self._ifindex(bridge)
            if br is None:
                raise LinuxDriverError(f"bridge {bridge} does not exist yet")
            ipr.link("set", index=idx, master=br, mtu=mtu, state="up")
        with self._ns(peer_ns) as ns:
            pidx = self._idx(ns, peer_name)
            if mac:
                ns.link("set", index=pidx, address=mac)
            ns.link("set", index=pidx, mtu=mtu, state="up")

    @staticmethod
    def _set_addresses(ns, idx: int, wanted: list[tuple[str, int]]) -> None:
        current = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ns.get_addr(index=idx)
                   if not str(a.get_attr("IFA_ADDRESS")).startswith("fe80:")}
        for ip, plen in current - set(wanted):
            ns.addr("del", index=idx, address=ip, prefixlen=plen)
        for ip, plen in set(wanted) - current:
            ns.addr("add", index=idx, address=ip, prefixlen=plen)

    # -- lifecycle ---------------------------------------------------------------------------------

    def setup(self) -> None:
        with self.lock:
            self.state.mkdir(parents=True, exist_ok=True)
            if self.host_ns:
                self._ensure_ns(self.host_ns)
                with NetNS(self.host_ns) as ns:
                    ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            for key in ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
                        "net.ipv4.ip_forward"):
                _sysctl(key, "1", self.host_ns)
            self._drop_legacy_iptables()

    def watch_devices(self, appeared) -> None:
        """A thread reading the host namespace's link notifications (RTMGRP_LINK): each new or changed
        device's name goes to ``appeared``; None after the socket overflowed (messages were lost)."""
        if self._watcher is not None:
            return
        if self.host_ns:
            with entered_named(self.host_ns):
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        else:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, RTMGRP_LINK))
        stop = threading.Event()
        thread = threading.Thread(target=self._watch, args=(sock, stop, appeared), name=f"{self.p}-link-events",
                                  daemon=True)
        self._watcher = (thread, stop)
        thread.start()

    @staticmethod
    def _watch(sock: socket.socket, stop: threading.Event, appeared) -> None:
        with sock:
            while not stop.is_set():
                try:
                    if not select.select([sock], [], [], 1.0)[0]:
                        continue
                    data = sock.recv(1 << 16)
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        log.warning("link notifications: %s", exc)
                        stop.wait(1.0)
                    data = None
                try:
                    if data is None:
                        appeared(None)
                        continue
                    for name in _new_link_names(data):
                        appeared(name)
                except Exception:
                    log.exception("link notification handler failed")

    def close(self) -> None:
        if self._watcher is not None:
            thread, stop = self._watcher
            self._watcher = None
            stop.set()
            thread.join(5)
        for handle in list(self._open_handles):  # other threads' handles too: their threads are done
            self._drop_handle(handle)
        self._handles = threading.local()
        with self._handles_lock:
            if self._ioctl_sock is not None:
                self._ioctl_sock.close()
                self._ioctl_sock = None
        with self._nl_lock:
            if self._nl_sock is not None:
                self._nl_sock.close()
                self._nl_sock = None
        with self.fw_lock:
            self._nft.close()
        with self.lock:
            for net_id in list(self.dnsmasq):
                self._stop_dnsmasq(net_id)
            for rid in list(self.proxies):
                self.proxies.pop(rid).stop()
            for rid in list(self.radvd):
                proc = self.radvd.pop(rid)
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(5)

    # -- networks ----------------------------------------------------------------------------------

    def ensure_network(self, spec: NetworkSpec) -> None:
        with self.lock, self._host() as ipr:
            name = self.bridge(spec.id)
            br = self._ifindex(name)
            if br is None:
                ipr.link("add", ifname=name, kind="bridge")
                br = self._ifindex(name)
            ipr.link("set", index=br, mtu=spec.mtu, state="up")
            if spec.network_type == "vxlan" and self.tunnel_ip and spec.segmentation_id:
                self._ensure_vxlan(ipr, spec, br)
            uplink = self.mappings.get(spec.physical_network or "") if spec.network_type == "flat" else None
            if uplink:
                idx = self._ifindex(uplink)
                if idx is not None:
                    ipr.link("set", index=idx, master=br, state="up")
            if spec.gateway:
                self._set_addresses(ipr, br, [(a.ip, a.prefixlen) for a in spec.gateway])
        if spec.gateway and spec.nat_cidrs:
            self._ensure_ext_nat(spec)

    def _ensure_vxlan(self, ipr, spec: NetworkSpec, br: int) -> None:
        name = self.vxlan(spec.id)
        idx = self._ifindex(name)
        if idx is None:
            kw = {"vxlan_id": spec.segmentation_id, "vxlan_local": self.tunnel_ip, "vxlan_port": 4789,
                  "vxlan_learning": 0}
            if self.tunnel_dev:
                kw["vxlan_link"] = self._ifindex(self.tunnel_dev)
            ipr.link("add", ifname=name, kind="vxlan", **kw)
            idx = self._ifindex(name)
        ipr.link("set", index=idx, master=br, mtu=spec.mtu, state="up")
        current = set()
        for line in _run(["bridge", "fdb", "show", "dev", name], self.host_ns).splitlines():
            parts = line.split()
            if parts and parts[0] == "00:00:00:00:00:00" and "dst" in parts:
                current.add(parts[parts.index("dst") + 1])
        for peer in current - set(spec.peers):
            _run(["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", name, "dst", peer], self.host_ns, check=False)
        for peer in set(spec.peers) - current:
            _run(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", name, "dst", peer], self.host_ns)

    def _ensure_ext_nat(self, spec: NetworkSpec) -> None:
        table = self.ext_table(spec.id)
        # only what leaves the host: never traffic bridged between this agent's own devices (br_netfilter)
        rules = "\n".join(f'    ip saddr {c} oifname != "{self.p}*" masquerade' for c in spec.nat_cidrs)
        script = (f"table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n"
                  f"  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n"
                  f"{rules}\n  }}\n}}\n")
        _run(["nft", "-f", "-"], self.host_ns, input=script)

    def delete_network(self, network_id: str) -> None:
        with self.lock:
            with self._host() as ipr:
                for name in (self.vxlan(network_id), self.bridge(network_id)):
                    idx = self._idx(ipr, name)
                    if idx is not None:
                        ipr.link("del", index=idx)
            tables = _run(["nft", "list", "tables"], self.host_ns, check=False)
            for line in tables.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] == "ip" and parts[2].startswith(f"{self.p}_ext_{network_id[:10]}"):
                    _run(["nft", "delete", "table", "ip", parts[2]], self.host_ns, check=False)

    def list_networks(self) -> set[str]:
        with self._host() as ipr:
            names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
        return {n[len(self.p) + 1:] for n in names if n.startswith(f"{self.p}b") or n.startswith(f"{self.p}x")}

    # -- ports -------------------------------------------------------------------------------------

    def ensure_port(self, spec: PortSpec) -> bool:
        # no driver lock: idempotent netlink calls, and plugging must not wait behind DHCP or routers
        idx = self._ifindex(spec.devname)
        if idx is None:
            self.attached.pop(spec.devname, None)
            return False
        br = self._ifindex(self.bridge(spec.network_id))
        if br is None:
            raise LinuxDriverError(f"bridge of network {spec.network_id} does not exist yet")
        wanted = (idx, br, spec.mtu)
        seen = self.attached.get(spec.devname)
        now = time.monotonic()
        if seen is not None and seen[0] == wanted and now - seen[1] < ATTACHED_RECHECK_SECONDS:
            return True
        # one request: the kernel sets the group before it brings the device up and enslaves it, and the
        # firewall drops what a device of this group sends until it has its rules
        self._set_link(idx, device_group(self.p), br, spec.mtu)
        if len(self.attached) > 65536:  # devices of ports long gone: forget them all, the next checks re-set
            self.attached.clear()
        self.attached[spec.devname] = (wanted, now)
        return True

    # -- DHCP --------------------------------------------------------------------------------------

    def _dhcp_dir(self, net_id: str) -> Path:
        return self.state / "dhcp" / net_id

    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        with self.lock:
            ns = self.dhcp_ns(spec.network_id)
            plumbing = (spec.mac, spec.addresses, spec.mtu)
            seen = self.dhcp_plumbed.get(spec.network_id)
            # every port change on the network lands here: the namespace side is re-checked only when it
            # changed or now and then (a namespace removed behind the agent's back is rebuilt then)
            if seen is None or seen[0] != plumbing or time.monotonic() - seen[1] > 30 or \
                    spec.network_id not in self.dhcp_entries and ns not in netns.listnetns():
                self._ensure_ns(ns)
                self._veth(_trunc(f"{self.p}d{spec.network_id}"), "ns-dhcp", ns, self.bridge(spec.network_id),
                           spec.mtu, spec.mac)
                with self._ns(ns) as n:
                    idx = self._idx(n, "ns-dhcp")
                    self._set_addresses(n, idx, [(a.ip, a.prefixlen) for a in spec.addresses])
                self.dhcp_plumbed[spec.network_id] = (plumbing, time.monotonic())
            d = self._dhcp_dir(spec.network_id)
            proc = self.dnsmasq.get(spec.network_id)
            running = proc is not None and proc.poll() is None
            files = self.dhcp_files.get(spec.network_id)
            if running and files is not None and files[0] == (spec.hosts, spec.domain, spec.subnets, spec.mtu,
                                                              spec.addresses):
                return  # as last written and served (a burst's port events on the network end here)
            d.mkdir(parents=True, exist_ok=True)
            # a file per port (MAC) in dnsmasq's watched DHCP directory and one DNS file it watches: a new port
            # is one small file and one appended line dnsmasq picks up by itself (inotify); only a removed or
            # altered DHCP entry needs a SIGHUP (dnsmasq never drops what it read from --dhcp-hostsdir)
            added, altered = self._write_entries(spec, d)
            opts = d / "opts"
            conf = (spec.subnets, spec.mtu, spec.addresses, spec.domain)
            if files is not None and files[3] == conf:  # the options and arguments as last built
                text, args = files[1], files[2]
            else:
                text, args = self._dhcp_opts(spec), "\n".join(self._dnsmasq_args(spec, d))
            if files is None:  # first look since start: what the files hold
                files = (None, *(f.read_text() if f.exists() else None for f in (opts, d / "args")), None)
            if files[1] != text:
                tmp = d / ".opts.tmp"
                tmp.write_text(text)
                tmp.replace(opts)
                altered = True
            # leases no entry owns: only an entry removed or altered (or a dnsmasq started) can leave one
            stale = self._stale_leases(spec, d) if altered or not running else []
            if not running or files[2] != args:
                self._stop_dnsmasq(spec.network_id)
                if stale:  # dnsmasq loads the lease file at start: leave out leases no port owns
                    self._drop_leases(d, stale)
                (d / "args").write_text(args)
                log_file = open(d / "dnsmasq.log", "ab")  # noqa: SIM115 - handed to the child
                self.dnsmasq[spec.network_id] = subprocess.Popen(
                    ["ip", "netns", "exec", ns, *args.split("\n")], stdout=log_file, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
                log_file.close()
            elif added or altered:
                if altered:
                    proc.send_signal(signal.SIGHUP)
                for lease in stale:
                    self._release(ns, spec, lease)
            self.dhcp_files[spec.network_id] = ((spec.hosts, spec.domain, spec.subnets, spec.mtu, spec.addresses),
                                                text, args, conf)

    def _write_entries(self, spec: DhcpSpec, d: Path) -> tuple[bool, bool]:
        """The host entries of ``spec``: one file per MAC in ``hosts.d`` (DHCP: dnsmasq adds what a changed
        file holds to what it had, an appended file would repeat entries) and the names in one file
        ``dns.d/hosts`` (dnsmasq drops a changed file's names and reads it again), appended for new ports,
        replaced when one goes or changes; (whether entries were added, whether DHCP entries were changed
        or removed)."""
        by_mac: dict[str, list] = {}
        for h in spec.hosts:
            by_mac.setdefault(h.mac.lower(), []).append(h)
        hosts = {mac.replace(":", ""): "".join(f"{h.mac},{h.hostname}.{spec.domain},{_dhcp_addr(h.ip)}\n"
                                               for h in entries) for mac, entries in by_mac.items()}
        names = {mac: "".join(f"{h.ip}\t{h.hostname}.{spec.domain} {h.hostname}\n" for h in entries)
                 for mac, entries in by_mac.items()}
        known = self.dhcp_entries.get(spec.network_id)
        dns = d / "dns.d" / "hosts"
        if known is None:  # first look since start: what the files hold
            for sub in ("hosts.d", "dns.d"):
                (d / sub).mkdir(exist_ok=True)
            known = {"hosts.d": {f.name: f.read_text() for f in (d / "hosts.d").iterdir()
                                 if not f.name.startswith(".")}}
            for f in (d / "dns.d").iterdir():  # a file per MAC of earlier versions
                if f.name != "hosts":
                    f.unlink(missing_ok=True)
            for old in ("hosts", "addn_hosts"):  # the single files of earlier versions
                (d / old).unlink(missing_ok=True)
            text = dns.read_text() if dns.exists() else None
            known["dns.d"] = {mac: entry for mac, entry in names.items()} if text == "".join(names.values()) else {}
            if text is not None and not known["dns.d"]:
                dns.unlink()
        added = altered = False
        have = known["hosts.d"]
        for name, text in hosts.items():
            if have.get(name) != text:
                if name in have:  # dnsmasq skips dot files: it reads the renamed one whole
                    tmp = d / "hosts.d" / f".{name}.tmp"
                    tmp.write_text(text)
                    tmp.replace(d / "hosts.d" / name)
                    altered = True
                else:  # a new file: dnsmasq reads it once it is closed (IN_CLOSE_WRITE), one write
                    _write_new(d / "hosts.d" / name, text)
                added = True
                have[name] = text
        for name in [n for n in have if n not in hosts]:
            (d / "hosts.d" / name).unlink(missing_ok=True)
            del have[name]
            altered = True
        served = known["dns.d"]
        if served != names:
            if all(names.get(mac) == entry for mac, entry in served.items()):  # only new ones: appended
                _append(dns, "".join(entry for mac, entry in names.items() if mac not in served))
            else:
                tmp = d / "dns.d" / ".hosts.tmp"
                tmp.write_text("".join(names.values()))
                tmp.replace(dns)
            known["dns.d"] = dict(names)
            added = True
        self.dhcp_entries[spec.network_id] = known
        return added, altered

    # A deleted port's lease outlives it in dnsmasq (86400 s): its address, handed to a new port with
    # another MAC, would not be offered until it expires. Neutron runs dhcp_release for such leases;
    # this sends the same DHCPRELEASE from the namespace, on behalf of the old client.

    @staticmethod
    def _stale_leases(spec: DhcpSpec, d: Path) -> list[tuple[str, str, str]]:
        """(mac, ip, client id) of leases that no current host entry (MAC and address) owns."""
        wanted = {(h.mac.lower(), h.ip) for h in spec.hosts}
        try:
            lines = (d / "leases").read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            parts = line.split()
            if len(parts) >= 5 and ":" not in parts[2] and (parts[1].lower(), parts[2]) not in wanted:
                out.append((parts[1].lower(), parts[2], parts[4]))
        return out

    @staticmethod
    def _drop_leases(d: Path, stale: list[tuple[str, str, str]]) -> None:
        gone = {(mac, ip) for mac, ip, _ in stale}
        path = d / "leases"
        kept = [line for line in path.read_text().splitlines()
                if len(line.split()) < 3 or (line.split()[1].lower(), line.split()[2]) not in gone]
        path.write_text("".join(line + "\n" for line in kept))

    def _release(self, ns: str, spec: DhcpSpec, lease: tuple[str, str, str]) -> None:
        mac, ip, client_id = lease
        server = next((a.ip for a in spec.addresses if ":" not in a.ip and ipaddress.ip_address(ip) in
                       ipaddress.ip_network(f"{a.ip}/{a.prefixlen}", strict=False)), None)
        if server is None:
            return
        packet = struct.pack("!BBBBIHH4s4s4s4s16s64s128s4s", 1, 1, 6, 0, int.from_bytes(os.urandom(4), "big"), 0,
                             0, socket.inet_aton(ip), bytes(4), bytes(4), bytes(4), bytes.fromhex(mac.replace(":", "")),
                             b"", b"", b"\x63\x82\x53\x63")
        packet += bytes([53, 1, 7, 54, 4]) + socket.inet_aton(server)  # DHCPRELEASE, server identifier
        if client_id != "*":
            cid = bytes.fromhex(client_id.replace(":", ""))
            packet += bytes([61, len(cid)]) + cid
        packet += b"\xff"
        try:
            with entered_named(ns), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                # bound to the DHCP interface, the local packet reaches dnsmasq as if it came from there
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"ns-dhcp")
                sock.sendto(packet, (server, 67))
        except (OSError, ValueError) as exc:
            log.warning("could not release the DHCP lease of %s (%s): %s", ip, mac, exc)

    def _dhcp_opts(self, spec: DhcpSpec) -> str:
        lines = []
        dhcp_ip = next((a.ip for a in spec.addresses if ":" not in a.ip), "")
        for i, s in enumerate(spec.subnets):
            tag = f"tag:s{i}"
            if ipaddress.ip_network(s.cidr).version == 6:
                # DNS: the subnet's servers, else this dnsmasq ([::] is "my own address")
                dns = ",".join(f"[{d}]" for d in s.dns_nameservers) if s.dns_nameservers else "[::]"
                lines.append(f"{tag},option6:dns-server,{dns}")
                lines.append(f"{tag},option6:domain-search,{spec.domain}")
                continue
            routes = [f"{d},{n}" for d, n in s.host_routes]
            if s.gateway_ip:
                lines.append(f"{tag},option:router,{s.gateway_ip}")
                routes.append(f"{METADATA_IP}/32,{s.gateway_ip}")
                routes.append(f"0.0.0.0/0,{s.gateway_ip}")
            else:
                lines.append(f"{tag},option:router")
            dns = ",".join(s.dns_nameservers) if s.dns_nameservers else dhcp_ip
            lines.append(f"{tag},option:dns-server,{dns}")
            if routes:
                lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
            lines.append(f"{tag},option:mtu,{spec.mtu}")
        return "\n".join(lines) + "\n"

    def _dnsmasq_args(self, spec: DhcpSpec, d: Path) -> list[str]:
        args = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
                "--strict-order", "--bind-interfaces", "--interface=ns-dhcp", "--except-interface=lo",
                f"--pid-file={d / 'pid'}", f"--dhcp-hostsdir={d / 'hosts.d'}", f"--hostsdir={d / 'dns.d'}",
                f"--dhcp-optsfile={d / 'opts'}", f"--dhcp-leasefile={d / 'leases'}", "--dhcp-authoritative",
                "--dhcp-lease-max=16777216", f"--domain={spec.domain}", "--user=root", "--group=root",
                "--log-dhcp", "--port=53"]
        for i, s in enumerate(spec.subnets):
            net = ipaddress.ip_network(s.cidr)
            if net.version == 6:
                # static: addresses only for the ports' MACs (stateful); Information-Requests
                # (stateless) are answered on the link all the same
                args.append(f"--dhcp-range=set:s{i},{net.network_address},static,{net.prefixlen},86400s")
            else:
                args.append(f"--dhcp-range=set:s{i},{net.network_address},static,{net.netmask},86400s")
        return args

    def _stop_dnsmasq(self, net_id: str) -> None:
        proc = self.dnsmasq.pop(net_id, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        pid_file = self._dhcp_dir(net_id) / "pid"
        # a dnsmasq an earlier agent process started (adopted by pid file + command line)
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(self._dhcp_dir(net_id)).encode() in cmdline:
                os.kill(pid, signal.SIGTERM)

    def delete_dhcp(self, network_id: str) -> None:
        with self.lock:
            full = self._full_id(network_id, "dhcp")
            self.dhcp_plumbed.pop(full, None)
            self.dhcp_entries.pop(full, None)
            self.dhcp_files.pop(full, None)
            self._stop_dnsmasq(full)
            ns = self.dhcp_ns(full)
            if ns in netns.listnetns():
                netns.remove(ns)
            shutil.rmtree(self._dhcp_dir(full), ignore_errors=True)

    def _full_id(self, key: str, kind: str) -> str:
        if kind == "dhcp":
            for ns in netns.listnetns():
                if ns.startswith(f"{self.p}-dhcp-{key}"):
                    return ns[len(f"{self.p}-dhcp-"):]
        return key

    def list_dhcp(self) -> set[str]:
        head = f"{self.p}-dhcp-"
        return {ns[len(head):] for ns in netns.listnetns() if ns.startswith(head)}

    # -- routers -----------------------------------------------------------------------------------

    def ensure_router(self, spec: RouterSpec) -> None:
        with self.lock:
            ns = self.router_ns(spec.id)
            self._ensure_ns(ns, router=True)
            wanted: dict[str, RouterInterface] = {}
            for iface in spec.interfaces:
                wanted[_trunc(f"qr-{iface.port_id}", 14)] = iface
            gw_dev = None
            if spec.gateway is not None:
                gw_dev = _trunc(f"qg-{spec.gateway.port_id}", 14)
                wanted[gw_dev] = spec.gateway
            with self._ns(ns) as n:
                for link in n.get_links():
                    name = link.get_attr("IFLA_IFNAME")
                    if (name.startswith("qr-") or name.startswith("qg-")) and name not in wanted:
                        n.link("del", index=link["index"])
            for dev, iface in wanted.items():
                host = _trunc(f"{self.p}{'g' if dev.startswith('qg-') else 'r'}{iface.port_id}")
                self._veth(host, dev, ns, self.bridge(iface.network_id), iface.mtu, iface.mac)
                addrs = [(a.ip, a.prefixlen) for a in iface.addresses]
                if dev == gw_dev:
                    addrs += [(f.floating_ip, 32) for f in spec.floating_ips]
                with self._ns(ns) as n:
                    self._set_addresses(n, self._idx(n, dev), addrs)
            self._routes(ns, spec, gw_dev)
            self._nat(ns, spec, gw_dev)
            self._metadata(ns, spec)
            self._advertise(ns, spec)

    def _routes(self, ns: str, spec: RouterSpec, gw_dev: str | None) -> None:
        wanted = {d: n for d, n in spec.routes}
        if gw_dev and spec.gateway_ip:
            wanted["0.0.0.0/0"] = spec.gateway_ip
        with self._ns(ns) as n:
            for route in n.get_routes(family=socket.AF_INET, table=254):
                gw = route.get_attr("RTA_GATEWAY")
                if not gw:
                    continue
                dst = route.get_attr("RTA_DST")
                key = f"{dst}/{route['dst_len']}" if dst else "0.0.0.0/0"
                if wanted.get(key) != gw:
                    with contextlib.suppress(NetlinkError):
                        n.route("del", dst=key, gateway=gw)
            for dst, hop in wanted.items():
                with contextlib.suppress(NetlinkError):
                    n.route("replace", dst=dst, gateway=hop)

    def _nat(self, ns: str, spec: RouterSpec, gw_dev: str | None) -> None:
        pre = [f"ip daddr {METADATA_IP} tcp dport 80 redirect to :{METADATA_PORT}"]
        out, post = [], []
        if gw_dev:
            for f in spec.floating_ips:
                pre.append(f"ip daddr {f.floating_ip} dnat to {f.fixed_ip}")
                out.append(f"ip daddr {f.floating_ip} dnat to {f.fixed_ip}")
                post.append(f'ip saddr {f.fixed_ip} oifname "{gw_dev}" snat to {f.floating_ip}')
            gw_ips = [a.ip for a in spec.gateway.addresses if ipaddress.ip_address(a.ip).version == 4]
            if spec.enable_snat and gw_ips:
                post.append(f'oifname "{gw_dev}" snat to {gw_ips[0]}')
        body = "\n".join([
            "table ip neutron", "delete table ip neutron", "table ip neutron {",
            "  chain prerouting { type nat hook prerouting priority dstnat; policy accept;",
            *[f"    {r}" for r in pre], "  }",
            "  chain output { type nat hook output priority -100; policy accept;", *[f"    {r}" for r in out], "  }",
            "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;",
            *[f"    {r}" for r in post], "  }", "}", ""])
        _run(["nft", "-f", "-"], ns, input=body)
        fips = tuple(sorted((f.floating_ip, f.fixed_ip) for f in spec.floating_ips))
        if self.applied_fips.get(spec.id) != fips:
            _run(["conntrack", "-F"], ns, check=False)
            self.applied_fips[spec.id] = fips

    def _metadata(self, ns: str, spec: RouterSpec) -> None:
        proxy = self.proxies.get(spec.id)
        if proxy is None:
            proxy = self.proxies[spec.id] = MetadataProxy(ns, self.metadata_url, self.metadata_secret)
        proxy.targets = {t.ip: (t.instance_id, t.project_id) for t in spec.metadata}

    # IPv6 router advertisements: radvd in the router namespace, as Neutron's L3 agent (the router
    # is the default gateway the RA announces; dnsmasq in the DHCP namespace serves DHCPv6)

    def _radvd_dir(self, router_id: str) -> Path:
        return self.state / "radvd" / router_id

    def _advertise(self, ns: str, spec: RouterSpec) -> None:
        conf = radvd_config(spec)
        d = self._radvd_dir(spec.id)
        proc = self.radvd.get(spec.id)
        if not conf:
            self._stop_radvd(spec.id)
            return
        if not shutil.which("radvd"):
            log.warning("router %s advertises IPv6 prefixes but radvd is not installed", spec.id)
            return
        d.mkdir(parents=True, exist_ok=True)
        path = d / "radvd.conf"
        changed = not path.exists() or path.read_text() != conf
        if changed:
            path.write_text(conf)
            path.chmod(0o644)
        if proc is None or proc.poll() is not None:
            self._stop_radvd(spec.id, keep_config=True)
            log_file = open(d / "radvd.log", "ab")  # noqa: SIM115 - handed to the child
            self.radvd[spec.id] = subprocess.Popen(
                ["ip", "netns", "exec", ns, "radvd", "--nodaemon", "-C", str(path), "-p", str(d / "pid"),
                 "-m", "stderr"], stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent)
            log_file.close()
        elif changed:
            proc.send_signal(signal.SIGHUP)

    def _stop_radvd(self, router_id: str, keep_config: bool = False) -> None:
        proc = self.radvd.pop(router_id, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        d = self._radvd_dir(router_id)
        with contextlib.suppress(OSError, ValueError):  # one an earlier agent process started
            pid = int((d / "pid").read_text().strip())
            if str(d).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        if d.exists() and not keep_config:
            shutil.rmtree(d, ignore_errors=True)

    def delete_router(self, router_id: str) -> None:
        with self.lock:
            self._stop_radvd(router_id)
            proxy = self.proxies.pop(router_id, None)
            if proxy is not None:
                proxy.stop()
            self.applied_fips.pop(router_id, None)
            ns = self.router_ns(router_id)
            if ns in netns.listnetns():
                netns.remove(ns)

    def list_routers(self) -> set[str]:
        head = f"{self.p}-r-"
        return {ns[len(head):] for ns in netns.listnetns() if ns.startswith(head)}

    def forget_neighbours(self, router_id: str, ips: tuple[str, ...]) -> None:
        ns = self.router_ns(router_id)
        wanted = {str(ipaddress.ip_address(ip)) for ip in ips}
        with self.lock:
            if ns not in netns.listnetns():
                return
            with self._ns(ns) as n:
                for entry in n.get_neighbours():
                    dst = entry.get_attr("NDA_DST")
                    if dst is not None and str(ipaddress.ip_address(dst)) in wanted:
                        with contextlib.suppress(NetlinkError):  # gone meanwhile
                            n.neigh("del", dst=dst, ifindex=entry["ifindex"])

    # -- security groups ---------------------------------------------------------------------------

    @property
    def sg_table(self) -> str:
        return f"{self.p}_sg"

    @property
    def ct_table(self) -> str:
        return f"{self.p}_sgct"

    def apply_firewall(self, ports: tuple[FirewallPort, ...],
                       groups: dict[str, tuple[str, ...]] | None = None) -> None:
        """One nft transaction per call, touching only what changed since the last one: the chains and
        address sets of ports whose rules, addresses or groups changed, the members of remote groups,
        the port maps.  The first call (and any after a failed one) replaces both tables whole."""
        groups = groups or {}
        with self.fw_lock:
            if not ports:
                if self.applied_firewall is not None and self.applied_firewall.empty:
                    return  # removed already: no nft run for every port event of a host without ports
                script = "".join(f"table {fam} {t}\ndelete table {fam} {t}\n"
                                 for fam, t in (("bridge", self.sg_table), ("inet", self.ct_table)))
                self._nft.run(script)
                self.applied_firewall = _Applied(empty=True)
                return
            wanted = _Applied(ports={port.id: _port_key(port, groups) for port in ports},
                              sets=_group_elements(groups, self.applied_firewall), members=dict(groups))
            if self.applied_firewall is not None and not self.applied_firewall.empty:
                script = _firewall_changes(self.sg_table, self.applied_firewall, wanted, ports, groups)
                if not script:
                    return
                try:
                    self._nft.run(script)
                    self.applied_firewall = wanted
                    return
                except LinuxDriverError as exc:  # the kernel is not what was recorded: rebuild it whole
                    log.warning("incremental firewall update failed, replacing the ruleset: %s", exc)
                    self.applied_firewall = None
            self._nft.run(_firewall_structure(self.p, self.sg_table, self.ct_table, ports, groups))
            self.applied_firewall = wanted

    def _drop_legacy_iptables(self) -> None:
        """Earlier versions filtered with iptables chains ``<p>-*``: remove them once."""
        for tool in ("iptables", "ip6tables"):
            if not shutil.which(f"{tool}-save"):
                continue
            chains = [line.split()[0][1:] for line in _run([f"{tool}-save", "-t", "filter"], self.host_ns,
                                                           check=False).splitlines()
                      if line.startswith(f":{self.p}-")]
            if chains:
                _run([tool, "-D", "FORWARD", "-j", f"{self.p}-FWD"], self.host_ns, check=False)
                for flag in ("-F", "-X"):
                    for chain in chains:
                        _run([tool, flag, chain], self.host_ns, check=False)


# -- the nftables security-group ruleset -----------------------------------------------------------
#
# Bridged packets are filtered in the bridge family, where the in/out bridge ports are known
# (``iifname``/``oifname`` are the ports' devices).  The bridge family has no conntrack on this
# kernel, so the inet family -- which br_netfilter runs for bridged IP traffic, with conntrack --
# records the connection state in two bits of the packet mark, and the bridge chain, hooked after
# br_netfilter (priority > 0), reads them.  A port's egress chain returns when allowed, its
# ingress chain accepts: a packet between two ports passes the sender's egress and the receiver's
# ingress rules.  Remote groups are named sets of their members' addresses.

MARK_ESTABLISHED = 0x40000000
MARK_INVALID = 0x20000000
L4 = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "dccp": 33, "udplite": 136,
      "gre": 47, "esp": 50, "ah": 51, "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ospf": 89, "pgm": 113,
      "rsvp": 46, "vrrp": 112, "egp": 8, "encap": 98, "ipv6-frag": 44, "ipv6-nonxt": 59, "ipv6-opts": 60,
      "ipv6-route": 43}
WITH_PORTS = {6, 17, 33, 132, 136}


def device_group(prefix: str) -> int:
    """The link group (``ip link set group``) of the port devices an agent plugs: its own number."""
    return 0x10000 + zlib.crc32(prefix.encode()) % 0x7FFF0000


def _set_name(group_id: str, version: int) -> str:
    return f"g{version}_{group_id.replace('-', '')[:24]}"


def _group_elements(groups: dict[str, tuple[str, ...]], applied: _Applied | None = None) -> dict[str, tuple[str, ...]]:
    """The remote groups' address sets; a group whose members are as last applied keeps its sets as they
    are (no parsing of every member's address on every call)."""
    out = {}
    for gid, ips in groups.items():
        if applied is not None and applied.members.get(gid) == ips:
            names = (_set_name(gid, 4), _set_name(gid, 6))
            if all(name in applied.sets for name in names):
                out.update((name, applied.sets[name]) for name in names)
                continue
        nets = [ipaddress.ip_network(ip, strict=False) for ip in ips]
        for version in (4, 6):
            out[_set_name(gid, version)] = tuple(sorted(str(n) for n in nets if n.version == version))
    return out


def _fill_set(table: str, name: str, items: tuple[str, ...]) -> str:
    text = f"flush set bridge {table} {name}\n"
    if items:
        text += f"add element bridge {table} {name} {{ {', '.join(items)} }}\n"
    return text


def _chain_id(port_id: str) -> str:
    return port_id.replace("-", "")[:20]


@dataclass
class _Applied:
    """What the last transaction left in the kernel: each port's key (see ``_port_key``) and the
    remote groups' address sets with their elements.  ``empty``: the tables were removed."""

    ports: dict[str, tuple] = field(default_factory=dict)
    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group id -> addresses, as handed in
    empty: bool = False


def _port_key(port: FirewallPort, groups: dict[str, tuple[str, ...]]) -> tuple:
    """Everything a port's chains depend on: the port itself and which of the remote groups its rules
    name have a set (a rule naming a group without one matches nothing).  Equal keys: nothing to do."""
    named = {r.remote_group for r in port.rules if r.remote_group and not r.remote_ip_prefix}
    return port, frozenset(named & groups.keys())


@dataclass
class _PortParts:
    sets: dict[str, tuple[str, str]]  # name -> (type, elements as nft text, "" when none)
    chains: dict[str, list[str]]  # name -> rules


def _firewall_structure(p: str, table: str, ct_table: str, ports: tuple[FirewallPort, ...],
                        groups: dict[str, tuple[str, ...]]) -> str:
    """Both tables whole, remote groups' members included: replaced atomically."""
    lines = [f"table bridge {table}", f"delete table bridge {table}", f"table bridge {table} {{"]
    for name, items in _group_elements(groups).items():
        kind = "ipv4_addr" if name.startswith("g4") else "ipv6_addr"
        body = f" elements = {{ {', '.join(items)} }};" if items else ""
        lines.append(f"  set {name} {{ type {kind}; flags interval; auto-merge;{body} }}")
    known = sorted(f'"{port.devname}"' for port in ports)
    lines.append(f"  set ports {{ type ifname; elements = {{ {', '.join(known)} }}; }}")
    egress, ingress = [], []
    for port in ports:
        if not port.port_security:
            continue
        cid = _chain_id(port.id)
        egress.append(f'"{port.devname}" : jump o_{cid}')
        ingress.append(f'"{port.devname}" : jump i_{cid}')
        parts = _port_parts(port, cid, groups)
        for name, (kind, items) in parts.sets.items():
            body = f" elements = {{ {items} }};" if items else ""
            lines.append(f"  set {name} {{ type {kind}; flags interval;{body} }}")
        for name, rules in parts.chains.items():
            lines += [f"  chain {name} {{", *[f"    {r}" for r in rules], "  }"]
    for name, items in (("egress", egress), ("ingress", ingress)):
        body = f" elements = {{ {', '.join(items)} }};" if items else ""
        lines.append(f"  map {name} {{ type ifname : verdict;{body} }}")
    lines += [
        "  chain forward {",
        "    type filter hook forward priority 100; policy accept;",
        # a port device this agent plugged (its group) but has no rules for yet passes nothing:
        # no window between plugging and filtering
        f"    iifgroup {device_group(p)} iifname != @ports drop",
        f"    oifgroup {device_group(p)} oifname != @ports drop",
        "    iifname vmap @egress",
        "    oifname vmap @ingress",
        "  }",
        "}",
        f"table inet {ct_table}", f"delete table inet {ct_table}", f"table inet {ct_table} {{",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{p}b*" meta mark set meta mark & {~(MARK_ESTABLISHED | MARK_INVALID) & 0xFFFFFFFF:#x}',
        f'    iifname "{p}b*" ct state established,related meta mark set meta mark | {MARK_ESTABLISHED:#x}',
        f'    iifname "{p}b*" ct state invalid meta mark set meta mark | {MARK_INVALID:#x}',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _firewall_changes(table: str, applied: _Applied, wanted: _Applied, ports: tuple[FirewallPort, ...],
                      groups: dict[str, tuple[str, ...]]) -> str:
    """The nft commands taking the tables from ``applied`` to ``wanted`` ("" when equal), in an order
    valid inside one transaction: sets before the rules naming them, references before what they name
    is deleted."""
    t = f"bridge {table}"
    out: list[str] = []
    for name, items in wanted.sets.items():  # remote groups: new sets, changed members
        if name not in applied.sets:
            kind = "ipv4_addr" if name.startswith("g4") else "ipv6_addr"
            out.append(f"add set {t} {name} {{ type {kind}; flags interval; auto-merge; }}")
        if applied.sets.get(name) != items:
            out.append(_fill_set(table, name, items).rstrip("\n"))
    gone_chains: list[str] = []
    gone_sets: list[str] = []
    for port_id, (old, _) in applied.ports.items():  # ports gone, or no longer filtered / renamed
        new = wanted.ports[port_id][0] if port_id in wanted.ports else None
        renamed = new is not None and new.devname != old.devname
        if new is None or renamed:
            out.append(f'delete element {t} ports {{ "{old.devname}" }}')
        if old.port_security and (new is None or renamed or not new.port_security):
            out += [f'delete element {t} egress {{ "{old.devname}" }}',
                    f'delete element {t} ingress {{ "{old.devname}" }}']
        if old.port_security and (new is None or not new.port_security):
            cid = _chain_id(port_id)
            gone_chains += [f"o_{cid}", f"i_{cid}"]
            gone_sets += [f"s4_{cid}", f"s6_{cid}"]
    for port in ports:  # ports new or changed: their sets and chains rebuilt in place
        key = wanted.ports[port.id]
        before = applied.ports.get(port.id)
        if before == key:
            continue
        renamed = before is not None and before[0].devname != port.devname
        if before is None or renamed:
            out.append(f'add element {t} ports {{ "{port.devname}" }}')
        if not port.port_security:
            continue
        cid = _chain_id(port.id)
        parts = _port_parts(port, cid, groups)
        for name, (kind, items) in parts.sets.items():
            out += [f"add set {t} {name} {{ type {kind}; flags interval; }}", f"flush set {t} {name}"]
            if items:
                out.append(f"add element {t} {name} {{ {items} }}")
        for name, rules in parts.chains.items():
            out += [f"add chain {t} {name}", f"flush chain {t} {name}", *[f"add rule {t} {name} {r}" for r in rules]]
        if before is None or renamed or not before[0].port_security:
            out += [f'add element {t} egress {{ "{port.devname}" : jump o_{cid} }}',
                    f'add element {t} ingress {{ "{port.devname}" : jump i_{cid} }}']
    out += [f"delete chain {t} {name}" for name in gone_chains]
    out += [f"delete set {t} {name}" for name in gone_sets]
    out += [f"delete set {t} {name}" for name in applied.sets if name not in wanted.sets]
    return "\n".join(out) + "\n" if out else ""


def _port_parts(port: FirewallPort, cid: str, groups: dict[str, tuple[str, ...]]) -> _PortParts:
    est = f"meta mark & {MARK_ESTABLISHED:#x} == {MARK_ESTABLISHED:#x}"
    inv = f"meta mark & {MARK_INVALID:#x} == {MARK_INVALID:#x}"
    own = {4: [], 6: [(_link_local(port.mac), port.mac)]}
    for ip in port.ips:
        own[ipaddress.ip_address(ip).version].append((ip, port.mac))
    for ip, mac in port.allowed_pairs:
        own[ipaddress.ip_network(ip, strict=False).version].append((str(ipaddress.ip_network(ip, strict=False)), mac))
    sets = {f"s{version}_{cid}": (f"ether_addr . {kind}", ", ".join(f"{mac} . {ip}" for ip, mac in own[version]))
            for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr"))}
    # from the port: DHCP/ND before anti-spoofing (no address yet), then its source pairs, then rules
    o = [
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
        "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, "
        "mld2-listener-report } return",
        "ip6 saddr fe80::/10 udp sport 546 udp dport 547 return",
        f"ether type arp ether saddr . arp saddr ip @s4_{cid} return",
        "ether type arp drop",
        f"ether type ip ether saddr . ip saddr != @s4_{cid} drop",
        f"ether type ip6 ether saddr . ip6 saddr != @s6_{cid} drop",
        "ether type != { ip, ip6 } drop",
        "udp sport 67 udp dport 68 drop",
        "udp sport 547 udp dport 546 drop",
        "icmpv6 type nd-router-advert drop",
    ]
    i = ["ether type arp accept"]
    if port.stateful:
        o += [f"{est} return", f"{inv} drop"]
        i += [f"{est} accept", f"{inv} drop"]
    i += ["udp sport 67 udp dport 68 accept",
          "icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, nd-router-advert, "
          "nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld2-listener-report } accept",
          "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept"]
    for rule in port.rules:
        for match in _rule_matches(rule, groups):
            if rule.direction == "egress":
                o.append(f"{match} return")
            else:
                i.append(f"{match} accept")
    o.append("drop")
    i.append("drop")
    return _PortParts(sets=sets, chains={f"o_{cid}": o, f"i_{cid}": i})


def _rule_matches(rule: FirewallRule, groups: dict[str, tuple[str, ...]]) -> list[str]:
    """nft match expressions for one rule ([] when it can match nothing here)."""
    v6 = rule.ethertype == "IPv6"
    fam = "ip6" if v6 else "ip"
    parts = [f"ether type {fam}"]
    side = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_ip_prefix:
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != (6 if v6 else 4):
            return []
        if net.prefixlen:
            parts.append(f"{fam} {side} {net}")
    elif rule.remote_group:
        if rule.remote_group not in groups:
            return []
        parts.append(f"{fam} {side} @{_set_name(rule.remote_group, 6 if v6 else 4)}")
    if rule.protocol is not None:
        proto = str(rule.protocol).lower()
        number = int(proto) if proto.isdigit() else L4.get(proto)
        if number is None:
            log.warning("security group rule protocol %r is not known here; rule skipped", rule.protocol)
            return []
        if number in (1, 58) and v6:
            number = 58
        if number == 1 and not v6 or number == 58 and v6:
            icmp = "icmpv6" if v6 else "icmp"
            parts.append(f"meta l4proto {number}")
            if rule.port_range_min is not None:
                parts.append(f"{icmp} type {rule.port_range_min}")
                if rule.port_range_max is not None:
                    parts.append(f"{icmp} code {rule.port_range_max}")
        else:
            parts.append(f"meta l4proto {number}")
            if number in WITH_PORTS and rule.port_range_min is not None:
                hi = rule.port_range_max if rule.port_range_max is not None else rule.port_range_min
                rng = str(rule.port_range_min) if hi == rule.port_range_min else f"{rule.port_range_min}-{hi}"
                parts.append(f"th dport {rng}")
    return [" ".join(parts)]


def _write_new(path: Path, text: str, flags: int = os.O_TRUNC) -> None:
    """A new file written whole before it is closed (no temporary file and rename: half the inode work on
    the state directory; dnsmasq reads a file in its watched directories when it is closed)."""
    data = memoryview(text.encode())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _append(path: Path, text: str) -> None:
    _write_new(path, text, os.O_APPEND)


def _dhcp_addr(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


RA_FLAGS = {  # ipv6_ra_mode -> (managed, other config, autonomous), as upstream's radvd template
    "slaac": (False, False, True),
    "dhcpv6-stateless": (False, True, True),
    "dhcpv6-stateful": (True, True, False),
}


def radvd_config(spec: RouterSpec) -> str:
    """radvd.conf for the router's interfaces on subnets with ``ipv6_ra_mode`` ("" when none)."""
    blocks = []
    for iface in spec.interfaces:
        if not iface.advertisements:
            continue
        managed = any(RA_FLAGS[a.mode][0] for a in iface.advertisements)
        other = any(RA_FLAGS[a.mode][1] for a in iface.advertisements)
        onoff = {True: "on", False: "off"}
        lines = [f"interface {_trunc(f'qr-{iface.port_id}', 14)}", "{", "    AdvSendAdvert on;",
                 "    IgnoreIfMissing on;", "    MinRtrAdvInterval 3;", "    MaxRtrAdvInterval 10;",
                 f"    AdvLinkMTU {iface.mtu};", f"    AdvManagedFlag {onoff[managed]};",
                 f"    AdvOtherConfigFlag {onoff[other]};"]
        for a in iface.advertisements:
            lines += [f"    prefix {a.prefix}", "    {", "        AdvOnLink on;",
                      f"        AdvAutonomous {onoff[RA_FLAGS[a.mode][2]]};", "    };"]
        dns = sorted({d for a in iface.advertisements for d in a.dns_nameservers if ":" in d})
        if dns:
            lines += [f"    RDNSS {' '.join(dns)}", "    {", "    };"]
        lines.append("};")
        blocks.append("\n".join(lines))
    return "\n".join(blocks) + "\n" if blocks else ""


def _link_local(mac: str) -> str:
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return str(ipaddress.ip_address(int(ipaddress.ip_address("fe80::")) + int.from_bytes(iid, "big")))
