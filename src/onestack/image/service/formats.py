"""Disk image format inspection from the bytes seen while streaming (first 64 KiB, last 512).

Finds the real format, the virtual size and unsafe features (a qcow2 backing file or external data
file), so that data not matching the declared ``disk_format`` is refused as upstream refuses it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEAD = 64 * 1024
TAIL = 512


@dataclass(frozen=True)
class Detected:
    format: str  # "raw" when nothing else matches
    virtual_size: int | None
    unsafe: str | None = None


def _qcow2(head: bytes) -> Detected | None:
    if len(head) < 32 or head[:4] != b"QFI\xfb":
        return None
    version, = struct.unpack(">I", head[4:8])
    backing_offset, = struct.unpack(">Q", head[8:16])
    size, = struct.unpack(">Q", head[24:32])
    unsafe = None
    if backing_offset:
        unsafe = "qcow2 images with a backing file are not allowed"
    elif version >= 3 and len(head) >= 80:
        incompatible, = struct.unpack(">Q", head[72:80])
        if incompatible & (1 << 2):
            unsafe = "qcow2 images with an external data file are not allowed"
    return Detected("qcow2", size, unsafe)


def _vmdk(head: bytes) -> Detected | None:
    if len(head) < 20 or head[:4] != b"KDMV":
        return None
    capacity, = struct.unpack("<Q", head[12:20])
    return Detected("vmdk", capacity * 512)


def _vhd(head: bytes, tail: bytes) -> Detected | None:
    for footer in (tail[-512:], head[:512]):
        if len(footer) >= 56 and footer[:8] == b"conectix":
            size, = struct.unpack(">Q", footer[48:56])
            return Detected("vhd", size)
    return None


def _vhdx(head: bytes) -> Detected | None:
    return Detected("vhdx", None) if head[:8] == b"vhdxfile" else None


def _vdi(head: bytes) -> Detected | None:
    if len(head) < 0x178:
        return None
    signature, = struct.unpack("<I", head[0x40:0x44])
    if signature != 0xBEDA107F:
        return None
    size, = struct.unpack("<Q", head[0x170:0x178])
    return Detected("vdi", size)


def _iso(head: bytes) -> Detected | None:
    if len(head) < 0x8082 or head[0x8001:0x8006] != b"CD001":
        return None
    blocks, = struct.unpack("<I", head[0x8050:0x8054])
    block_size, = struct.unpack("<H", head[0x8080:0x8082])
    return Detected("iso", blocks * block_size)


def inspect(head: bytes, tail: bytes, size: int) -> Detected:
    for found in (_qcow2(head), _vmdk(head), _vhdx(head), _vdi(head), _iso(head), _vhd(head, tail)):
        if found is not None:
            return found
    return Detected("raw", size)


# Formats whose content we can tell apart; other declared formats (ami, ari, aki, ploop) are not checked.
CHECKED = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso")


def mismatch(declared: str | None, found: Detected) -> str | None:
    """Why the data cannot be accepted as ``declared`` (None: it can)."""
    if found.unsafe:
        return f"Image data is not safe to use: {found.unsafe}."
    if declared not in CHECKED or declared == found.format:
        return None
    if declared == "raw" and found.format == "iso":  # an ISO is a valid raw disk
        return None
    if declared == "iso" and found.format == "raw":  # not every bootable medium has an ISO 9660 header
        return None
    return (f"Image data is in {found.format} format, which does not match the declared "
            f"disk_format '{declared}'.")
