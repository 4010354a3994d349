"""Tap devices for guest NICs: created persistent by the driver (so they outlive QEMU restarts and the
network agent attaches them to the port's bridge once), opened by QEMU with ``script=no``."""

from __future__ import annotations

import contextlib

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .errors import QemuError


def ensure_tap(name: str, mtu: int | None = None, bridge: str | None = None) -> None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="tuntap", mode="tap")
            except NetlinkError as exc:
                raise QemuError(f"cannot create tap {name}: {exc}") from exc
            found = ipr.link_lookup(ifname=name)
        idx = found[0]
        attrs: dict = {"state": "up"}
        if mtu:
            attrs["mtu"] = mtu
        if bridge:
            br = ipr.link_lookup(ifname=bridge)
            if not br:
                raise QemuError(f"bridge {bridge} does not exist")
            attrs["master"] = br[0]
        ipr.link("set", index=idx, **attrs)


def delete_tap(name: str) -> None:
    with IPRoute() as ipr:
        for idx in ipr.link_lookup(ifname=name):
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx)
