from __future__ import annotations

from onestack.core.errors import NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.users import CREATE_GROUP, UPDATE_GROUP
from ..service import users as svc
from ..service.common import split_extra
from ..service.resources import DEFAULT_DOMAIN_ID
from ..views.users import group as view
from ..views.users import user as user_view
from .common import body_of, domain_list_target, list_response, query_filters


def _target(group) -> dict:
    return {"target.group.id": group.id, "target.group.domain_id": group.domain_id}


def list_groups(req: ApiRequest):
    filters = query_filters(req, ("domain_id", "name"))
    req.enforce("identity:list_groups", domain_list_target(req, filters))
    with req.deps.uow() as uow:
        return list_response(req, "groups", svc.list_groups(uow, filters), view)


def show_group(req: ApiRequest):
    with req.deps.uow() as uow:
        group = svc.get_group(uow, req.params["group_id"])
        req.enforce("identity:get_group", _target(group))
        return json_response({"group": view(group, req.base_url)})


def create_group(req: ApiRequest):
    req.enforce("identity:create_group")
    body = body_of(req, CREATE_GROUP, "group")
    core, extra = split_extra(body, ("name", "domain_id", "description"))
    domain_id = core.get("domain_id") or req.ctx.domain_id or req.ctx.project_domain_id or DEFAULT_DOMAIN_ID
    with req.deps.uow(write=True) as uow:
        out = view(svc.create_group(uow, core["name"], domain_id, core.get("description"), extra), req.base_url)
    return json_response({"group": out}, 201)


def update_group(req: ApiRequest):
    req.enforce("identity:update_group")
    body = body_of(req, UPDATE_GROUP, "group")
    with req.deps.uow(write=True) as uow:
        out = view(svc.update_group(uow, req.params["group_id"], body), req.base_url)
    return json_response({"group": out})


def delete_group(req: ApiRequest):
    req.enforce("identity:delete_group")
    with req.deps.uow(write=True) as uow:
        svc.delete_group(uow, req.params["group_id"])
    return empty_response()


def list_group_users(req: ApiRequest):
    with req.deps.uow() as uow:
        group = svc.get_group(uow, req.params["group_id"])
        req.enforce("identity:list_users_in_group", _target(group))
        return list_response(req, "users", svc.group_users(uow, group.id), user_view)


def check_group_user(req: ApiRequest):
    with req.deps.uow() as uow:
        group = svc.get_group(uow, req.params["group_id"])
        req.enforce("identity:check_user_in_group", _target(group))
        if not svc.is_member(uow, group.id, req.params["user_id"]):
            raise NotFound(f"User {req.params['user_id']} is not a member of group {group.id}.")
    return empty_response()


def add_group_user(req: ApiRequest):
    req.enforce("identity:add_user_to_group")
    with req.deps.uow(write=True) as uow:
        svc.add_user_to_group(uow, req.params["group_id"], req.params["user_id"])
    return empty_response()


def remove_group_user(req: ApiRequest):
    req.enforce("identity:remove_user_from_group")
    with req.deps.uow(write=True) as uow:
        svc.remove_user_from_group(uow, req.params["group_id"], req.params["user_id"])
    return empty_response()
