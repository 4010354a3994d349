"""Volume types, extra specs, type access and default types."""

from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas.types import CREATE_TYPE, DEFAULT_TYPE, EXTRA_SPEC_ITEM, EXTRA_SPECS, PROJECT_ACCESS, UPDATE_TYPE
from ..service import types as svc
from ..service.common import parse_bool
from ..views.types import access as access_view
from ..views.types import volume_type as view
from .common import body_of, caller


def list_types(req: ApiRequest):
    req.enforce("volume_extension:type_get_all")
    who = caller(req)
    is_public = None
    if "is_public" in req.query and req.query["is_public"].lower() != "none":
        is_public = parse_bool(req.query["is_public"], "is_public")
    elif not who.is_admin:
        is_public = True
    with req.deps.uow() as uow:
        rows = svc.list_types(uow, who, is_public)
        return json_response({"volume_types": [view(r, who.is_admin) for r in rows]})


def show_type(req: ApiRequest):
    req.enforce("volume_extension:type_get")
    who = caller(req)
    with req.deps.uow() as uow:
        return json_response({"volume_type": view(svc.get_type(uow, req.params["type_id"], who), who.is_admin)})


def create_type(req: ApiRequest):
    req.enforce("volume_extension:type_create")
    body = body_of(req, CREATE_TYPE, "volume_type")
    is_public = parse_bool(body.get("os-volume-type-access:is_public", True), "is_public")
    with req.deps.uow(write=True) as uow:
        row = svc.create_type(uow, body["name"], body.get("description"), is_public, body.get("extra_specs") or {})
        out = view(row, True)
    return json_response({"volume_type": out})


def update_type(req: ApiRequest):
    req.enforce("volume_extension:type_update")
    body = body_of(req, UPDATE_TYPE, "volume_type")
    if "is_public" in body:
        body["is_public"] = parse_bool(body["is_public"], "is_public")
    with req.deps.uow(write=True) as uow:
        row = svc.update_type(uow, req.params["type_id"], caller(req), body)
        uow.flush()
        out = view(row, True)
    return json_response({"volume_type": out})


def delete_type(req: ApiRequest):
    req.enforce("volume_extension:type_delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_type(uow, req.params["type_id"], caller(req))
    return empty_response(202)


def list_extra_specs(req: ApiRequest):
    req.enforce("volume_extension:types_extra_specs:index")
    with req.deps.uow() as uow:
        row = svc.get_type(uow, req.params["type_id"], caller(req))
        return json_response({"extra_specs": dict(row.extra_specs or {})})


def create_extra_specs(req: ApiRequest):
    req.enforce("volume_extension:types_extra_specs:create")
    specs = body_of(req, EXTRA_SPECS, "extra_specs")
    with req.deps.uow(write=True) as uow:
        svc.set_extra_specs(uow, req.params["type_id"], caller(req), specs)
    return json_response({"extra_specs": {k: str(v) for k, v in specs.items()}})


def show_extra_spec(req: ApiRequest):
    req.enforce("volume_extension:types_extra_specs:show")
    key = req.params["key"]
    with req.deps.uow() as uow:
        row = svc.get_type(uow, req.params["type_id"], caller(req))
        if key not in (row.extra_specs or {}):
            raise NotFound(f"Volume Type {row.id} has no extra specs with key {key}.")
        return json_response({key: row.extra_specs[key]})


def update_extra_spec(req: ApiRequest):
    req.enforce("volume_extension:types_extra_specs:update")
    key = req.params["key"]
    body = validate(EXTRA_SPEC_ITEM, req.json())
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    with req.deps.uow(write=True) as uow:
        svc.set_extra_specs(uow, req.params["type_id"], caller(req), body)
    return json_response({key: str(body[key])})


def delete_extra_spec(req: ApiRequest):
    req.enforce("volume_extension:types_extra_specs:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_extra_spec(uow, req.params["type_id"], caller(req), req.params["key"])
    return empty_response(202)


def list_type_access(req: ApiRequest):
    req.enforce("volume_extension:volume_type_access")
    with req.deps.uow() as uow:
        rows = svc.list_access(uow, req.params["type_id"], caller(req))
        return json_response({"volume_type_access": [access_view(r.volume_type_id, r.project_id) for r in rows]})


def type_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid input received: the action body must name exactly one action.")
    (name, args), = body.items()
    if name not in ("addProjectAccess", "removeProjectAccess"):
        raise BadRequest(f"There is no such action: {name}")
    req.enforce(f"volume_extension:volume_type_access:{name}")
    args = validate(PROJECT_ACCESS, args)
    with req.deps.uow(write=True) as uow:
        if name == "addProjectAccess":
            svc.add_access(uow, req.params["type_id"], caller(req), args["project"])
        else:
            svc.remove_access(uow, req.params["type_id"], caller(req), args["project"])
    return empty_response(202)


# -- default types (3.62) ------------------------------------------------------------------------------


def _default_view(row) -> dict:
    return {"project_id": row.project_id, "volume_type_id": row.volume_type_id}


def set_default_type(req: ApiRequest):
    req.enforce("volume_extension:default_set")
    body = body_of(req, DEFAULT_TYPE, "default_type")
    with req.deps.uow(write=True) as uow:
        row = svc.set_default_type(uow, req.params["target_project_id"], body["volume_type"], caller(req))
        out = _default_view(row)
    return json_response({"default_type": out})


def show_default_type(req: ApiRequest):
    req.enforce("volume_extension:default_get", {"project_id": req.params["target_project_id"]})
    with req.deps.uow() as uow:
        return json_response({"default_type": _default_view(svc.get_default_type(uow,
                                                                                 req.params["target_project_id"]))})


def list_default_types(req: ApiRequest):
    req.enforce("volume_extension:default_get_all")
    with req.deps.uow() as uow:
        return json_response({"default_types": [_default_view(r) for r in svc.list_default_types(uow)]})


def unset_default_type(req: ApiRequest):
    req.enforce("volume_extension:default_unset")
    with req.deps.uow(write=True) as uow:
        svc.unset_default_type(uow, req.params["target_project_id"])
    return empty_response(204)
