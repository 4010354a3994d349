from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response

from ..schemas.security_groups import CREATE_SECURITY_GROUP, CREATE_SECURITY_GROUP_RULE, UPDATE_SECURITY_GROUP
from ..service import security_groups as svc
from ..views import security_groups as views
from .common import body_of, caller, collection, if_match, single


def _target(g) -> dict:
    return {"project_id": g.project_id, "tenant_id": g.project_id}


def _ensure_default(req: ApiRequest) -> None:
    project_id = req.ctx.project_id
    if not project_id:
        return
    with req.deps.uow() as uow:
        if svc.has_default(uow, project_id):
            return
    req.deps.write(lambda uow: svc.ensure_default(uow, project_id))


def list_security_groups(req: ApiRequest):
    _ensure_default(req)
    with req.deps.uow() as uow:
        items = [views.security_group(g) for g in svc.list_security_groups(uow, caller(req))]
    return collection(req, "security_groups", items)


def show_security_group(req: ApiRequest):
    with req.deps.uow() as uow:
        group = svc.get_security_group(uow, caller(req), req.params["security_group_id"])
        req.enforce("get_security_group", _target(group))
        return single(req, "security_group", views.security_group(group))


def create_security_group(req: ApiRequest):
    body = body_of(req, CREATE_SECURITY_GROUP, "security_group")
    req.enforce("create_security_group", {"project_id": body.get("project_id") or req.ctx.project_id})
    deps = req.deps
    group = deps.write(lambda uow: svc.create_security_group(uow, caller(req), deps.limits, body))
    with deps.uow() as uow:
        return single(req, "security_group", views.security_group(svc.get_security_group(uow, caller(req),
                                                                                         group.id)), 201)


def update_security_group(req: ApiRequest):
    body = body_of(req, UPDATE_SECURITY_GROUP, "security_group")
    deps = req.deps
    gid = req.params["security_group_id"]
    with deps.uow() as uow:
        req.enforce("update_security_group", _target(svc.get_security_group(uow, caller(req), gid)))
    deps.write(lambda uow: svc.update_security_group(uow, caller(req), gid, body, if_match(req)))
    with deps.uow() as uow:
        return single(req, "security_group", views.security_group(svc.get_security_group(uow, caller(req), gid)))


def delete_security_group(req: ApiRequest):
    deps = req.deps
    gid = req.params["security_group_id"]
    with deps.uow() as uow:
        req.enforce("delete_security_group", _target(svc.get_security_group(uow, caller(req), gid)))
    deps.write(lambda uow: svc.delete_security_group(uow, caller(req), gid, if_match(req)))
    return empty_response()


def list_security_group_rules(req: ApiRequest):
    _ensure_default(req)
    with req.deps.uow() as uow:
        items = [views.rule(r) for r in svc.list_rules(uow, caller(req))]
    return collection(req, "security_group_rules", items)


def show_security_group_rule(req: ApiRequest):
    with req.deps.uow() as uow:
        rule = svc.get_rule(uow, caller(req), req.params["rule_id"])
        req.enforce("get_security_group_rule", {**_target(rule), "security_group:project_id": rule.group.project_id})
        return single(req, "security_group_rule", views.rule(rule))


def create_security_group_rule(req: ApiRequest):
    body = body_of(req, CREATE_SECURITY_GROUP_RULE, "security_group_rule")
    deps = req.deps
    with deps.uow() as uow:
        group = svc.get_security_group(uow, caller(req), body["security_group_id"])
        req.enforce("create_security_group_rule", _target(group))
    rule = deps.write(lambda uow: svc.create_rule(uow, caller(req), deps.limits, body))
    with deps.uow() as uow:
        return single(req, "security_group_rule", views.rule(svc.get_rule(uow, caller(req), rule.id)), 201)


def delete_security_group_rule(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        rule = svc.get_rule(uow, caller(req), req.params["rule_id"])
        req.enforce("delete_security_group_rule", {**_target(rule),
                                                   "security_group:project_id": rule.group.project_id})
    deps.write(lambda uow: svc.delete_rule(uow, caller(req), req.params["rule_id"]))
    return empty_response()
