"""Errors of the QEMU runtime (the driver maps them onto the compute driver's errors)."""

from __future__ import annotations


class QemuError(Exception):
    """A QEMU operation failed; the message is safe to show as a server fault."""
