from __future__ import annotations

from ..model import Project
from .common import self_link


def project(p: Project, base: str) -> dict:
    return {
        **p.extra,
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description or "",
        "enabled": p.enabled,
        "parent_id": p.parent_id or p.domain_id,
        "is_domain": False,
        "tags": [t.name for t in p.tags],
        "options": p.options or {},
        "links": self_link(base, f"projects/{p.id}"),
    }
