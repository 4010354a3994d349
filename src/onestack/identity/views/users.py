from __future__ import annotations

from ..model import Group, User
from ..service.tokens import isotime
from .common import self_link


def user(u: User, base: str) -> dict:
    body = {
        **u.extra,
        "id": u.id,
        "name": u.name,
        "domain_id": u.domain_id,
        "enabled": u.enabled,
        "password_expires_at": isotime(u.password_expires_at),
        "options": u.options or {},
        "links": self_link(base, f"users/{u.id}"),
    }
    if u.default_project_id:
        body["default_project_id"] = u.default_project_id
    if u.description is not None:
        body["description"] = u.description
    return body


def group(g: Group, base: str) -> dict:
    return {**g.extra, "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description or "",
            "links": self_link(base, f"groups/{g.id}")}
