"""The config drive's content, shared by every guest driver (a directory; drivers package it).

``openstack/latest/{meta_data.json,network_data.json,user_data}`` for cloud-init images, and flat files
under ``onestack/`` (``hostname``, ``authorized_keys``, ``net``: one ``ifname mac dhcp|static cidr gw``
line per NIC) that the onestack guest init reads with a plain shell.  The container driver bind-mounts
the directory; the QEMU driver burns it into an ISO 9660 image labelled ``config-2``, as Nova does.
A driver may keep the trees of destroyed guests (``recycle``: emptied, nothing of the guest left) and hand
``write_config_drive`` a directory of them to take one from: its directories and files are reused
(rewritten) instead of made anew. On an ext4 without a journal every new inode scans the inodes deleted in
the last minutes (what destroyed guests leave): about half a millisecond of CPU each on a busy host, for
the ten of a tree.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import uuid
from pathlib import Path

from .base import Guest


def devices(guest: Guest) -> list[dict]:
    """The tagged devices (Nova's device role tagging, in meta_data.json's ``devices``): NICs by MAC, disks by
    serial (the volume id) and path.  No bus address: the guest finds a NIC by its MAC, a disk by its serial."""
    out: list[dict] = [{"type": "nic", "mac": i.mac_address, "tags": [i.tag]} for i in guest.interfaces if i.tag]
    out += [{"type": "disk", "bus": "virtio", "serial": v.volume_id, "path": v.device, "tags": [v.tag]}
            for v in guest.volumes if v.tag]
    return out


# the tree: its directories and every file it may hold
DIRS = ("openstack", "openstack/latest", "onestack")
FILES = ("openstack/latest/meta_data.json", "openstack/latest/network_data.json", "openstack/latest/user_data",
         "onestack/hostname", "onestack/authorized_keys", "onestack/net")
SPARE_LIMIT = 256  # recycled trees kept at most


def write_config_drive(root: Path, guest: Guest, spare: Path | None = None) -> Path:
    """(Re)write the config drive tree of ``guest`` at ``root``; returns ``root``. ``spare``: a directory of
    recycled trees (``recycle``) to take one from, when there is one, instead of making a new tree."""
    if root.exists():
        shutil.rmtree(root)
    latest, flat = root / "openstack" / "latest", root / "onestack"
    if spare is None or not _take(spare, root):  # (a recycled tree has every directory and file: rewritten)
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


def recycle(root: Path, spare: Path) -> bool:
    """Keep the config drive tree at ``root`` (of a guest being destroyed: nothing uses it) for a later
    ``write_config_drive``: every file emptied, the tree moved into ``spare``. Only a tree of exactly the
    drive's own directories and regular files is kept (at most SPARE_LIMIT of them); False: left as it is."""
    try:
        found = {str(p.relative_to(root)): p for p in root.rglob("*")}
        if set(found) != set(DIRS) | set(FILES):
            return False
        if any(p.is_symlink() or not (p.is_dir() if name in DIRS else p.is_file()) for name, p in found.items()):
            return False
        spare.mkdir(exist_ok=True)
        if len(os.listdir(spare)) >= SPARE_LIMIT:
            return False
        for name in set(found) - set(DIRS):
            os.truncate(found[name], 0)
        os.rename(root, spare / uuid.uuid4().hex)
    except OSError:
        return False
    return True


def _take(spare: Path, root: Path) -> bool:
    """Move one recycled tree from ``spare`` to ``root``; False when there is none."""
    try:
        names = os.listdir(spare)
    except FileNotFoundError:
        return False
    for name in names:
        try:
            os.rename(spare / name, root)  # (another thread may have taken it: the next one)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        return True
    return False


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
