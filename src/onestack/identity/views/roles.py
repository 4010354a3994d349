from __future__ import annotations

from ..model import NULL_DOMAIN, Role
from .common import self_link


def role(r: Role, base: str) -> dict:
    return {"id": r.id, "name": r.name, "domain_id": None if r.domain_id == NULL_DOMAIN else r.domain_id,
            "description": r.description, "options": r.options or {}, "links": self_link(base, f"roles/{r.id}")}


def role_ref(r: Role, base: str) -> dict:
    return {"id": r.id, "name": r.name, "links": self_link(base, f"roles/{r.id}")}


def inference(prior: Role, implied: list[Role], base: str) -> dict:
    return {"prior_role": role_ref(prior, base), "implies": [role_ref(i, base) for i in implied]}
