"""Errors of the container runtime (the driver maps them onto the compute driver's errors)."""

from __future__ import annotations


class ContainerError(Exception):
    """A container operation failed; the message is safe to show as a server fault."""


class NotFound(ContainerError):
    pass
