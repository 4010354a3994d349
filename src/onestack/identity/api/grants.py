"""Role grants on projects, domains and the system (plus OS-INHERIT), and /v3/role_assignments."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, empty_response, json_response

from ..model import Domain, Group, Project, Role, User
from ..service import roles as svc
from ..views.assignments import assignment
from ..views.common import collection
from ..views.roles import role as role_view
from .common import flag


def _grant(req: ApiRequest, role_id: str = "") -> svc.Grant:
    p = req.params
    path = req.raw.url.path
    return svc.Grant(role_id=role_id, user_id=p.get("user_id"), group_id=p.get("group_id"),
                     project_id=p.get("project_id"), domain_id=p.get("domain_id"),
                     system="/system/" in path, inherited="/OS-INHERIT/" in path)


def _rule(grant: svc.Grant, verb: str) -> str:
    if grant.system:
        actor = "user" if grant.user_id else "group"
        noun = "grants" if verb == "list" else "grant"  # upstream: list_system_grants_for_user
        return f"identity:{verb}_system_{noun}_for_{actor}"
    return {"check": "identity:check_grant", "list": "identity:list_grants", "create": "identity:create_grant",
            "revoke": "identity:revoke_grant"}[verb]


def _target(grant: svc.Grant) -> dict:
    return {"target.domain.id": grant.domain_id, "target.project.id": grant.project_id}


def check_grant(req: ApiRequest):
    grant = _grant(req, req.params["role_id"])
    req.enforce(_rule(grant, "check"), _target(grant))
    with req.deps.uow() as uow:
        svc.check_grant(uow, grant)
    return empty_response()


def create_grant(req: ApiRequest):
    grant = _grant(req, req.params["role_id"])
    req.enforce(_rule(grant, "create"), _target(grant))
    with req.deps.uow(write=True) as uow:
        svc.create_grant(uow, grant)
    return empty_response()


def revoke_grant(req: ApiRequest):
    grant = _grant(req, req.params["role_id"])
    req.enforce(_rule(grant, "revoke"), _target(grant))
    with req.deps.uow(write=True) as uow:
        svc.delete_grant(uow, grant)
    return empty_response()


def list_grants(req: ApiRequest):
    grant = _grant(req)
    req.enforce(_rule(grant, "list"), _target(grant))
    with req.deps.uow() as uow:
        items = [role_view(r, req.base_url) for r in svc.list_grants(uow, grant)]
    return json_response(collection("roles", items, req.url))


# -- /v3/role_assignments -------------------------------------------------------------------------

FILTERS = ("user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id", "scope.system",
           "scope.OS-INHERIT:inherited_to")


def list_role_assignments(req: ApiRequest):
    filters = {k: req.query[k] for k in FILTERS if k in req.query}
    effective = flag(req, "effective")
    if effective and "group.id" in filters:
        raise BadRequest("Combining effective and group filter will always result in an empty list.")
    req.enforce("identity:list_role_assignments", {"target.domain_id": filters.get("scope.domain.id")})
    with req.deps.uow() as uow:
        if "scope.project.id" in filters:
            project_ids = {filters["scope.project.id"]}
            if flag(req, "include_subtree"):
                project_ids |= _subtree(uow, filters["scope.project.id"])
            filters["scope.project.id"] = project_ids
        entries = svc.list_role_assignments(uow, filters, effective)
        names = _names(uow, entries) if flag(req, "include_names") else None
        items = [assignment(e, req.base_url, names) for e in entries]
    return json_response({"role_assignments": items, "links": {"self": str(req.raw.url), "previous": None,
                                                                "next": None}})


def _subtree(uow, project_id: str) -> set[str]:
    found, todo = set(), [project_id]
    while todo:
        for child in uow.session.scalars(select(Project.id).where(Project.parent_id == todo.pop())):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _names(uow, entries) -> dict:
    domains = {d.id: d.name for d in uow.session.scalars(select(Domain))}

    def dom(domain_id):
        return {"id": domain_id, "name": domains.get(domain_id)}

    names: dict = {}
    ids = {kind: {getattr(e, f"{kind}_id") for e in entries} - {None}
           for kind in ("role", "user", "group", "project", "domain")}
    for r in uow.session.scalars(select(Role).where(Role.id.in_(ids["role"]))):
        names[("role", r.id)] = {"name": r.name}
    for u in uow.session.scalars(select(User).where(User.id.in_(ids["user"]))):
        names[("user", u.id)] = {"name": u.name, "domain": dom(u.domain_id)}
    for g in uow.session.scalars(select(Group).where(Group.id.in_(ids["group"]))):
        names[("group", g.id)] = {"name": g.name, "domain": dom(g.domain_id)}
    for p in uow.session.scalars(select(Project).where(Project.id.in_(ids["project"]))):
        names[("project", p.id)] = {"name": p.name, "domain": dom(p.domain_id)}
    for d in ids["domain"]:
        names[("domain", d)] = {"name": domains.get(d)}
    return names
