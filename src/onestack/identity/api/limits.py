"""Unified limits: registered limits and project/domain limits."""

from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.limits import CREATE_LIMITS, CREATE_REGISTERED_LIMITS, UPDATE_LIMIT, UPDATE_REGISTERED_LIMIT
from ..service import limits as svc
from ..views.limits import LIMIT_MODEL
from ..views.limits import limit as limit_view
from ..views.limits import registered_limit as registered_view
from .common import body_of, list_response, query_filters


def list_registered_limits(req: ApiRequest):
    req.enforce("identity:list_registered_limits")
    filters = query_filters(req, ("service_id", "region_id", "resource_name"))
    with req.deps.uow() as uow:
        return list_response(req, "registered_limits", svc.list_registered_limits(uow, filters), registered_view)


def show_registered_limit(req: ApiRequest):
    req.enforce("identity:get_registered_limit")
    with req.deps.uow() as uow:
        row = svc.get_registered_limit(uow, req.params["registered_limit_id"])
        return json_response({"registered_limit": registered_view(row, req.base_url)})


def create_registered_limits(req: ApiRequest):
    req.enforce("identity:create_registered_limits")
    items = body_of(req, CREATE_REGISTERED_LIMITS, "registered_limits")
    with req.deps.uow(write=True) as uow:
        out = [registered_view(r, req.base_url) for r in svc.create_registered_limits(uow, items)]
    return json_response({"registered_limits": out}, 201)


def update_registered_limit(req: ApiRequest):
    req.enforce("identity:update_registered_limit")
    body = body_of(req, UPDATE_REGISTERED_LIMIT, "registered_limit")
    with req.deps.uow(write=True) as uow:
        row = svc.update_registered_limit(uow, req.params["registered_limit_id"], body)
        out = registered_view(row, req.base_url)
    return json_response({"registered_limit": out})


def delete_registered_limit(req: ApiRequest):
    req.enforce("identity:delete_registered_limit")
    with req.deps.uow(write=True) as uow:
        svc.delete_registered_limit(uow, req.params["registered_limit_id"])
    return empty_response()


def show_limit_model(req: ApiRequest):
    req.enforce("identity:get_limit_model")
    return json_response({"model": LIMIT_MODEL})


def list_limits(req: ApiRequest):
    req.enforce("identity:list_limits")
    filters = query_filters(req, ("service_id", "region_id", "resource_name", "project_id", "domain_id"))
    # Non-admins see only their own project's limits, as upstream; never the project-less (domain) ones.
    visible = None if req.allowed("identity:get_limit", {}) else {req.ctx.project_id} - {None}
    with req.deps.uow() as uow:
        return list_response(req, "limits", svc.list_limits(uow, filters, visible), limit_view)


def show_limit(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.get_limit(uow, req.params["limit_id"])
        req.enforce("identity:get_limit", {"target.limit.project_id": row.project_id})
        return json_response({"limit": limit_view(row, req.base_url)})


def create_limits(req: ApiRequest):
    req.enforce("identity:create_limits")
    items = body_of(req, CREATE_LIMITS, "limits")
    with req.deps.uow(write=True) as uow:
        out = [limit_view(r, req.base_url) for r in svc.create_limits(uow, items)]
    return json_response({"limits": out}, 201)


def update_limit(req: ApiRequest):
    req.enforce("identity:update_limit")
    body = body_of(req, UPDATE_LIMIT, "limit")
    with req.deps.uow(write=True) as uow:
        out = limit_view(svc.update_limit(uow, req.params["limit_id"], body), req.base_url)
    return json_response({"limit": out})


def delete_limit(req: ApiRequest):
    req.enforce("identity:delete_limit")
    with req.deps.uow(write=True) as uow:
        svc.delete_limit(uow, req.params["limit_id"])
    return empty_response()
