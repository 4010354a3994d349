from __future__ import annotations

from ..model import ApplicationCredential
from ..service.tokens import isotime
from .common import self_link


def application_credential(c: ApplicationCredential, base: str, secret: str | None = None) -> dict:
    body = {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "user_id": c.user_id,
        "project_id": c.project_id,
        "roles": c.roles,
        "expires_at": isotime(c.expires_at),
        "unrestricted": c.unrestricted,
        "access_rules": c.access_rules or [],
        "links": self_link(base, f"users/{c.user_id}/application_credentials/{c.id}"),
    }
    if secret is not None:
        body["secret"] = secret
    return body
