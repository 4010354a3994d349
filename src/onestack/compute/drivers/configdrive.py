"""The config drive's content, shared by every guest driver (a directory; drivers package it).

``openstack/latest/{meta_data.json,network_data.json,user_data}`` for cloud-init images, and flat files
under ``onestack/`` (``hostname``, ``authorized_keys``, ``net``: one ``ifname mac dhcp|static cidr gw``
line per NIC) that the onestack guest init reads with a plain shell.  The container driver bind-mounts
the directory; the QEMU driver burns it into an ISO 9660 image labelled ``config-2``, as Nova does.
"""

from __future__ import annotations

import base64
import binascii
import json
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


def write_config_drive(root: Path, guest: Guest) -> Path:
    """(Re)write the config drive tree of ``guest`` at ``root``; returns ``root``."""
    if root.exists():
        shutil.rmtree(root)
    latest, flat = root / "openstack" / "latest", root / "onestack"
    latest.mkdir(parents=True)
    flat.mkdir()
    keys = {"default": guest.key_data} if guest.key_data else {}
    meta = {"uuid": guest.uuid, "name": guest.name, "hostname": guest.hostname, "launch_index": 0,
            "public_keys": keys, "meta": dict(guest.metadata), "availability_zone": "nova",
            "devices": devices(guest)}
    (latest / "meta_data.json").write_text(json.dumps(meta, indent=1))
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
    (latest / "network_data.json").write_text(json.dumps({"links": links, "networks": networks, "services": []}))
    user_data = b""
    if guest.user_data:
        try:
            user_data = base64.b64decode(guest.user_data, validate=True)
        except (binascii.Error, ValueError):
            user_data = guest.user_data.encode()
    (latest / "user_data").write_bytes(user_data)
    (flat / "hostname").write_text((guest.hostname or guest.name) + "\n")
    (flat / "authorized_keys").write_text((guest.key_data.strip() + "\n") if guest.key_data else "")
    (flat / "net").write_text("".join(line + "\n" for line in net_lines))
    return root
