"""/v3/role_assignments entries, optionally with names (``include_names``)."""

from __future__ import annotations

from ..service.roles import AssignmentEntry
from .common import V3


def assignment(e: AssignmentEntry, base: str, names: dict | None) -> dict:
    names = names or {}
    body: dict = {"role": {"id": e.role_id, **names.get(("role", e.role_id), {})}}
    if e.user_id:
        body["user"] = {"id": e.user_id, **names.get(("user", e.user_id), {})}
    if e.group_id:
        body["group"] = {"id": e.group_id, **names.get(("group", e.group_id), {})}
    if e.project_id:
        scope: dict = {"project": {"id": e.project_id, **names.get(("project", e.project_id), {})}}
        target = f"projects/{e.project_id}"
    elif e.domain_id:
        scope = {"domain": {"id": e.domain_id, **names.get(("domain", e.domain_id), {})}}
        target = f"domains/{e.domain_id}"
    else:
        scope = {"system": {"all": True}}
        target = "system"
    actor = f"users/{e.user_id}" if e.user_id else f"groups/{e.group_id}"
    if e.via_group_id:
        actor = f"groups/{e.via_group_id}"
    if e.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
        target = "OS-INHERIT/" + target
    body["scope"] = scope
    body["links"] = {"assignment": f"{base}{V3}/{target}/{actor}/roles/{e.role_id}"}
    if e.via_group_id:
        body["links"]["membership"] = f"{base}{V3}/groups/{e.via_group_id}/users/{e.user_id}"
    if e.prior_role_id:
        body["links"]["prior_role"] = f"{base}{V3}/roles/{e.prior_role_id}"
    return body
