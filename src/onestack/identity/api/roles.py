"""Roles, domain-specific roles, implied roles and role inference rules."""

from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..model import NULL_DOMAIN
from ..schemas.roles import CREATE_ROLE, UPDATE_ROLE
from ..service import roles as svc
from ..views.roles import inference, role_ref
from ..views.roles import role as view
from .common import body_of, list_response, query_filters


def _rule(role_or_domain_id, verb: str) -> str:
    domain_specific = role_or_domain_id not in (None, "", NULL_DOMAIN)
    return f"identity:{verb}_domain_role" if domain_specific else f"identity:{verb}_role"


def list_roles(req: ApiRequest):
    filters = query_filters(req, ("name", "domain_id"))
    req.enforce("identity:list_domain_roles" if filters.get("domain_id") else "identity:list_roles")
    with req.deps.uow() as uow:
        return list_response(req, "roles", svc.list_roles(uow, filters), view)


def show_role(req: ApiRequest):
    with req.deps.uow() as uow:
        role = svc.get_role(uow, req.params["role_id"])
        req.enforce(_rule(role.domain_id, "get"))
        return json_response({"role": view(role, req.base_url)})


def create_role(req: ApiRequest):
    body = body_of(req, CREATE_ROLE, "role")
    req.enforce(_rule(body.get("domain_id"), "create"))
    with req.deps.uow(write=True) as uow:
        role = svc.create_role(uow, body["name"], body.get("domain_id"), body.get("description"),
                               body.get("options"))
        out = view(role, req.base_url)
    return json_response({"role": out}, 201)


def update_role(req: ApiRequest):
    body = body_of(req, UPDATE_ROLE, "role")
    with req.deps.uow(write=True) as uow:
        role = svc.get_role(uow, req.params["role_id"])
        req.enforce(_rule(role.domain_id, "update"))
        out = view(svc.update_role(uow, role.id, body), req.base_url)
    return json_response({"role": out})


def delete_role(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        role = svc.get_role(uow, req.params["role_id"])
        req.enforce(_rule(role.domain_id, "delete"))
        svc.delete_role(uow, role.id)
    return empty_response()


# -- implied roles --------------------------------------------------------------------------------


def list_implied_roles(req: ApiRequest):
    req.enforce("identity:list_implied_roles")
    with req.deps.uow() as uow:
        prior = svc.get_role(uow, req.params["prior_role_id"])
        body = inference(prior, svc.implied_roles_of(uow, prior.id), req.base_url)
    return json_response({"role_inference": body, "links": {"self": req.url}})


def _one_inference(req: ApiRequest, prior, implied) -> dict:
    return {"role_inference": {"prior_role": role_ref(prior, req.base_url), "implies": role_ref(implied, req.base_url)},
            "links": {"self": req.url}}


def show_implied_role(req: ApiRequest):
    req.enforce("identity:get_implied_role")
    with req.deps.uow() as uow:
        prior, implied = svc.get_implied_role(uow, req.params["prior_role_id"], req.params["implied_role_id"])
        body = _one_inference(req, prior, implied)
    if req.method == "HEAD":
        return empty_response()
    return json_response(body)


def create_implied_role(req: ApiRequest):
    req.enforce("identity:create_implied_role")
    with req.deps.uow(write=True) as uow:
        prior, implied = svc.create_implied_role(uow, req.params["prior_role_id"], req.params["implied_role_id"])
        body = _one_inference(req, prior, implied)
    return json_response(body, 201)


def delete_implied_role(req: ApiRequest):
    req.enforce("identity:delete_implied_role")
    with req.deps.uow(write=True) as uow:
        svc.delete_implied_role(uow, req.params["prior_role_id"], req.params["implied_role_id"])
    return empty_response()


def list_role_inferences(req: ApiRequest):
    req.enforce("identity:list_role_inference_rules")
    with req.deps.uow() as uow:
        items = [inference(p, imps, req.base_url) for p, imps in svc.all_inferences(uow)]
    return json_response({"role_inferences": items, "links": {"self": req.url}})
