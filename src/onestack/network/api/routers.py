from __future__ import annotations

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas.routers import CREATE_FLOATINGIP, CREATE_ROUTER, INTERFACE, UPDATE_FLOATINGIP, UPDATE_ROUTER
from ..service import routers as svc
from ..views import routers as views
from .common import body_of, caller, collection, if_match, single


def _target(r) -> dict:
    return {"project_id": r.project_id, "tenant_id": r.project_id}


def _view(uow, router) -> dict:
    return views.router(router, svc.gateway_port(uow, router))


def _gateway_policies(req: ApiRequest, action: str, body: dict, target: dict) -> None:
    info = body.get("external_gateway_info") or {}
    if "enable_snat" in info:
        req.enforce(f"{action}:external_gateway_info:enable_snat", target)
    if info.get("external_fixed_ips"):
        req.enforce(f"{action}:external_gateway_info:external_fixed_ips", target)


def list_routers(req: ApiRequest):
    with req.deps.uow() as uow:
        items = [_view(uow, r) for r in svc.list_routers(uow, caller(req))]
    return collection(req, "routers", items)


def show_router(req: ApiRequest):
    with req.deps.uow() as uow:
        router = svc.get_router(uow, caller(req), req.params["router_id"])
        req.enforce("get_router", _target(router))
        return single(req, "router", _view(uow, router))


def create_router(req: ApiRequest):
    body = body_of(req, CREATE_ROUTER, "router")
    target = {"project_id": body.get("project_id") or body.get("tenant_id") or req.ctx.project_id}
    req.enforce("create_router", target)
    _gateway_policies(req, "create_router", body, target)
    deps = req.deps
    router = deps.write(lambda uow: svc.create_router(uow, caller(req), deps.limits, body))
    with deps.uow() as uow:
        return single(req, "router", _view(uow, svc.get_router(uow, caller(req), router.id)), 201)


def update_router(req: ApiRequest):
    body = body_of(req, UPDATE_ROUTER, "router")
    deps = req.deps
    with deps.uow() as uow:
        target = _target(svc.get_router(uow, caller(req), req.params["router_id"]))
    req.enforce("update_router", target)
    _gateway_policies(req, "update_router", body, target)
    deps.write(lambda uow: svc.update_router(uow, caller(req), deps.limits, req.params["router_id"], body,
                                             if_match(req)))
    with deps.uow() as uow:
        return single(req, "router", _view(uow, svc.get_router(uow, caller(req), req.params["router_id"])))


def delete_router(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("delete_router", _target(svc.get_router(uow, caller(req), req.params["router_id"])))
    deps.write(lambda uow: svc.delete_router(uow, caller(req), req.params["router_id"], if_match(req)))
    return empty_response()


def _interface_body(req: ApiRequest) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.", type="BadRequest")
    validate(INTERFACE, body)
    return body


def add_router_interface(req: ApiRequest):
    body = _interface_body(req)
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("add_router_interface", _target(svc.get_router(uow, caller(req), req.params["router_id"])))
    out = deps.write(lambda uow: svc.add_interface(uow, caller(req), deps.limits, req.params["router_id"], body))
    return json_response(out)


def remove_router_interface(req: ApiRequest):
    body = _interface_body(req)
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("remove_router_interface", _target(svc.get_router(uow, caller(req), req.params["router_id"])))
    out = deps.write(lambda uow: svc.remove_interface(uow, caller(req), req.params["router_id"], body))
    return json_response(out)


# -- floating IPs ----------------------------------------------------------------------------------

def _fip_view(uow, fip) -> dict:
    port = uow.session.get(svc.m.Port, fip.port_id) if fip.port_id else None
    return views.floatingip(fip, port)


def list_floatingips(req: ApiRequest):
    with req.deps.uow() as uow:
        items = [_fip_view(uow, f) for f in svc.list_floatingips(uow, caller(req))]
    return collection(req, "floatingips", items)


def show_floatingip(req: ApiRequest):
    with req.deps.uow() as uow:
        fip = svc.get_floatingip(uow, caller(req), req.params["floatingip_id"])
        req.enforce("get_floatingip", _target(fip))
        return single(req, "floatingip", _fip_view(uow, fip))


def create_floatingip(req: ApiRequest):
    body = body_of(req, CREATE_FLOATINGIP, "floatingip")
    target = {"project_id": body.get("project_id") or body.get("tenant_id") or req.ctx.project_id}
    req.enforce("create_floatingip", target)
    if body.get("floating_ip_address"):
        req.enforce("create_floatingip:floating_ip_address", target)
    deps = req.deps
    fip = deps.write(lambda uow: svc.create_floatingip(uow, caller(req), deps.limits, body))
    with deps.uow() as uow:
        return single(req, "floatingip", _fip_view(uow, svc.get_floatingip(uow, caller(req), fip.id)), 201)


def update_floatingip(req: ApiRequest):
    body = body_of(req, UPDATE_FLOATINGIP, "floatingip")
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("update_floatingip", _target(svc.get_floatingip(uow, caller(req), req.params["floatingip_id"])))
    deps.write(lambda uow: svc.update_floatingip(uow, caller(req), req.params["floatingip_id"], body,
                                                 if_match(req)))
    with deps.uow() as uow:
        return single(req, "floatingip", _fip_view(uow, svc.get_floatingip(uow, caller(req),
                                                                           req.params["floatingip_id"])))


def delete_floatingip(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("delete_floatingip", _target(svc.get_floatingip(uow, caller(req), req.params["floatingip_id"])))
    deps.write(lambda uow: svc.delete_floatingip(uow, caller(req), req.params["floatingip_id"], if_match(req)))
    return empty_response()
