"""The config drive's content, shared by every guest driver (a directory; drivers package it).

``openstack/latest/{meta_data.json,network_data.json,user_data}`` for cloud-init images, and flat files
under ``onestack/`` (``hostname``, ``authorized_keys``, ``net``: one ``ifname mac dhcp|static cidr gw``
line per NIC) that the onestack guest init reads with a plain shell.  The container driver bind-mounts
the directory; the QEMU driver burns it into an ISO 9660 image labelled ``config-2``, as Nova does.
A tree at ``root`` that is whole (every directory and file of a drive, as ``scrub`` leaves it) is rewritten
in place, file by file, instead of being removed and made again: the container driver recycles destroyed
guests' directories (see ``runtime``), because on an ext4 without a journal every new inode scans the
inodes deleted in the last minutes, about half a millisecond of CPU each on a busy host.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
from pathlib import Path

from .base import Guest


def devices(guest: Guest) -> list[dict]:
    """The tagged devices (Nova's device role tagging, in meta_data.json's ``devices``): NICs by MAC, disks by
    serial (the volume id) and path.  No bus address: the guest finds a NIC by its MAC, a disk by its serial."""
    out: list[dict] = [{"type": "nic", "mac": i.mac_address, "tags": [i.tag]} for i in guest.interfaces if i.tag]
    out += [{"type": "disk", "bus": "virtio", "serial": v.volume_id, "path": v.device, "tags": [v.tag]}
            for v in guest.volumes if v.tag]
    return out


# the tree: its directories and every file it holds
DIRS = ("openstack", "openstack/latest", "onestack")
FILES = ("openstack/latest/meta_data.json", "openstack/latest/network_data.json", "openstack/latest/user_data",
         "onestack/hostname", "onestack/authorized_keys", "onestack/net")
_TREE = {**{d: "dir" for d in DIRS}, **{f: "file" for f in FILES}}


def write_config_drive(root: Path, guest: Guest) -> Path:
    """(Re)write the config drive tree of ``guest`` at ``root``; returns ``root``."""
    latest, flat = root / "openstack" / "latest", root / "onestack"
    if not _whole(root):  # (a whole tree: every file is rewritten below)
        if root.exists():
            shutil.rmtree(root)
        latest.mkdir(parents=True)
        flat.mkdir()
    keys = {"default": guest.key_data} if guest.key_data else {}
    meta = {"uuid": guest.uuid, "name": guest.name, "hostname": guest.hostname, "launch_index": 0,
            "public_keys": keys, "meta": dict(guest.metadata), "availability_zone": "nova",
            "devices": devices(guest)}
    _write(latest / "meta_data.json", json.dumps(meta, indent=1).encode())
    links, networks, net_lines = [], [], []
    for i, iface in enumerate(guest.interfaces):
        d = iface.details
        links.append({"id": f"tap{iface.port_id[:11]}", "type": "phy", "ethernet_mac_address": iface.mac_address,
                      "mtu": iface.mtu, "vif_id": iface.port_id})
        if d.get("ipv4_cidr"):
            networks.append({"id": f"network{i}", "link": links[-1]["id"], "type": "ipv4",
                             "ip_address": d["ipv4_cidr"].split("/")[0], "network_id": iface.network_id})
            net_lines.append(f"eth{i} {iface.mac_address} static {d['ipv4_cidr']} {d.get('gateway') or '-'}")
        else:
            networks.append({"id": f"network{i}", "link": links[-1]["id"], "type": "ipv4_dhcp",
                             "network_id": iface.network_id})
            net_lines.append(f"eth{i} {iface.mac_address} dhcp - -")
    _write(latest / "network_data.json", json.dumps({"links": links, "networks": networks, "services": []}).encode())
    user_data = b""
    if guest.user_data:
        try:
            user_data = base64.b64decode(guest.user_data, validate=True)
        except (binascii.Error, ValueError):
            user_data = guest.user_data.encode()
    _write(latest / "user_data", user_data)
    _write(flat / "hostname", ((guest.hostname or guest.name) + "\n").encode())
    _write(flat / "authorized_keys", ((guest.key_data.strip() + "\n") if guest.key_data else "").encode())
    _write(flat / "net", "".join(line + "\n" for line in net_lines).encode())
    return root


def scrub(root: Path) -> bool:
    """Empty every file of the tree at ``root`` (its guest is gone: nothing of it is kept), so that the tree can
    be written again for another guest; False (nothing done) unless it is a whole tree."""
    if not _whole(root):
        return False
    try:
        for name in FILES:
            os.truncate(root / name, 0)
    except OSError:
        return False
    return True


def _whole(root: Path) -> bool:
    """Whether ``root`` holds exactly the drive's directories and regular files (no links, nothing else)."""
    found: dict[str, str] = {}

    def walk(path: str, prefix: str) -> None:
        for e in os.scandir(path):
            if e.is_dir(follow_symlinks=False):
                found[prefix + e.name] = "dir"
                walk(e.path, f"{prefix}{e.name}/")
            else:
                found[prefix + e.name] = "file" if e.is_file(follow_symlinks=False) else "other"

    try:
        walk(str(root), "")
    except OSError:  # (no tree at all)
        return False
    return found == _TREE


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
