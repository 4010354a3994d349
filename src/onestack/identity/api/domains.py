from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.domains import CREATE_DOMAIN, UPDATE_DOMAIN
from ..service import resources as svc
from ..service.common import split_extra
from ..views.domains import domain as view
from .common import body_of, list_response, query_filters


def list_domains(req: ApiRequest):
    req.enforce("identity:list_domains")
    with req.deps.uow() as uow:
        rows = svc.list_domains(uow, query_filters(req, ("name",), ("enabled",)))
        return list_response(req, "domains", rows, view)


def show_domain(req: ApiRequest):
    domain_id = req.params["domain_id"]
    with req.deps.uow() as uow:
        domain = svc.get_domain(uow, domain_id)
        req.enforce("identity:get_domain", {"target.domain.id": domain.id})
        return json_response({"domain": view(domain, req.base_url)})


def create_domain(req: ApiRequest):
    req.enforce("identity:create_domain")
    body = body_of(req, CREATE_DOMAIN, "domain")
    core, extra = split_extra(body, ("name", "description", "enabled", "options", "explicit_domain_id", "tags"))
    with req.deps.uow(write=True) as uow:
        domain = svc.create_domain(uow, svc.CreateDomain(
            name=core["name"], description=core.get("description"), enabled=core.get("enabled", True),
            options=core.get("options") or {}, id=core.get("explicit_domain_id"), extra=extra,
            tags=tuple(core.get("tags") or ())))
        out = view(domain, req.base_url)
    return json_response({"domain": out}, 201)


def update_domain(req: ApiRequest):
    req.enforce("identity:update_domain")
    body = body_of(req, UPDATE_DOMAIN, "domain")
    with req.deps.uow(write=True) as uow:
        out = view(svc.update_domain(uow, req.params["domain_id"], body), req.base_url)
    return json_response({"domain": out})


def delete_domain(req: ApiRequest):
    req.enforce("identity:delete_domain")
    with req.deps.uow(write=True) as uow:
        svc.delete_domain(uow, req.params["domain_id"])
    return empty_response()
