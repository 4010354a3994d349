from __future__ import annotations

from ..model import Domain
from .common import self_link


def domain(d: Domain, base: str) -> dict:
    return {**d.extra, "id": d.id, "name": d.name, "description": d.description or "", "enabled": d.enabled,
            "tags": list(d.extra.get("tags") or []), "options": d.options or {},
            "links": self_link(base, f"domains/{d.id}")}
