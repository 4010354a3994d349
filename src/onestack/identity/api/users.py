from __future__ import annotations

from onestack.core.errors import Unauthorized
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.users import CHANGE_PASSWORD, CREATE_USER, UPDATE_USER
from ..service import users as svc
from ..service.common import split_extra
from ..service.resources import DEFAULT_DOMAIN_ID
from ..views.users import group as group_view
from ..views.users import user as view
from .common import body_of, domain_list_target, list_response, query_filters


def list_users(req: ApiRequest):
    filters = query_filters(req, ("domain_id", "name"), ("enabled",))
    req.enforce("identity:list_users", domain_list_target(req, filters))
    with req.deps.uow() as uow:
        return list_response(req, "users", svc.list_users(uow, filters), view)


def show_user(req: ApiRequest):
    with req.deps.uow() as uow:
        user = svc.get_user(uow, req.params["user_id"])
        req.enforce("identity:get_user", {"target.user.id": user.id, "target.user.domain_id": user.domain_id})
        return json_response({"user": view(user, req.base_url)})


def create_user(req: ApiRequest):
    req.enforce("identity:create_user")
    body = body_of(req, CREATE_USER, "user")
    core, extra = split_extra(body, svc.USER_FIELDS)
    domain_id = core.get("domain_id") or req.ctx.domain_id or req.ctx.project_domain_id or DEFAULT_DOMAIN_ID
    with req.deps.uow(write=True) as uow:
        user = svc.create_user(uow, svc.CreateUser(
            name=core["name"], domain_id=domain_id, password=core.get("password"),
            enabled=core.get("enabled", True), default_project_id=core.get("default_project_id"),
            description=core.get("description"), options=core.get("options") or {},
            extra={k: v for k, v in extra.items() if v is not None}), req.deps.password_policy)
        out = view(user, req.base_url)
    return json_response({"user": out}, 201)


def update_user(req: ApiRequest):
    req.enforce("identity:update_user")
    body = body_of(req, UPDATE_USER, "user")
    with req.deps.uow(write=True) as uow:
        out = view(svc.update_user(uow, req.params["user_id"], body, req.deps.password_policy), req.base_url)
    return json_response({"user": out})


def delete_user(req: ApiRequest):
    req.enforce("identity:delete_user")
    with req.deps.uow(write=True) as uow:
        svc.delete_user(uow, req.params["user_id"])
    return empty_response()


def change_password(req: ApiRequest):
    # Public, as upstream: a user whose password expired must be able to change it without a token.
    body = body_of(req, CHANGE_PASSWORD, "user")
    user_id, policy = req.params["user_id"], req.deps.password_policy
    try:
        with req.deps.uow(write=True) as uow:
            svc.change_password(uow, user_id, body["original_password"], body["password"], policy)
    except Unauthorized:
        # A wrong original password counts towards the lockout, as a failed login does.
        with req.deps.uow(write=True) as uow:
            svc.record_failed_attempt(uow, user_id, policy)
        raise
    return empty_response()


def list_user_groups(req: ApiRequest):
    user_id = req.params["user_id"]
    req.enforce("identity:list_groups_for_user", {"target.user.id": user_id})
    with req.deps.uow() as uow:
        svc.get_user(uow, user_id)
        return list_response(req, "groups", svc.user_groups(uow, user_id), group_view)
