"""Flavor documents, shaped per microversion."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import Flavor
from .common import links


def flavor(row: Flavor, base: str, v: Version, detail: bool = True, extra_specs: bool = False) -> dict:
    body: dict = {"id": row.id, "name": row.name, "links": links(base, "flavors", row.id)}
    if v.matches("2.55"):
        body["description"] = row.description
    if not detail:
        return body
    body.update({
        "ram": row.memory_mb,
        "vcpus": row.vcpus,
        "disk": row.root_gb,
        "OS-FLV-EXT-DATA:ephemeral": row.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": row.disabled,
        "os-flavor-access:is_public": row.is_public,
        "rxtx_factor": row.rxtx_factor,
        "swap": row.swap if (row.swap or v.matches("2.75")) else "",
    })
    if extra_specs and v.matches("2.61"):
        body["extra_specs"] = dict(row.extra_specs or {})
    return body


def snapshot(row: Flavor) -> dict:
    """What a server keeps of its flavor (shown as the server's ``flavor`` from 2.47)."""
    return {"id": row.id, "name": row.name, "vcpus": row.vcpus, "ram": row.memory_mb, "disk": row.root_gb,
            "ephemeral": row.ephemeral_gb, "swap": row.swap, "extra_specs": dict(row.extra_specs or {})}


def access(rows) -> dict:
    return {"flavor_access": [{"flavor_id": r.flavor_id, "tenant_id": r.project_id} for r in rows]}
