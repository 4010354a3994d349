from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import flavors as schemas
from ..service import flavors as svc
from ..views import flavors as views
from ..views.common import next_links
from .common import body_of, by_version, paginate, parse_bool, parse_int


def _is_admin(req: ApiRequest) -> bool:
    return req.allowed("context_is_admin")


def _list(req: ApiRequest, detail: bool):
    admin = _is_admin(req)
    is_public: bool | None = True
    raw = req.query.get("is_public")
    if raw is not None and admin:
        is_public = None if raw.lower() == "none" else parse_bool("is_public", raw)
    with req.deps.uow() as uow:
        rows = svc.list_flavors(uow, project_id=req.ctx.project_id, admin=admin, is_public=is_public,
                                min_ram=parse_int("minRam", req.query.get("minRam"), 0),
                                min_disk=parse_int("minDisk", req.query.get("minDisk"), 0),
                                sort_key=req.query.get("sort_key", "flavorid"),
                                sort_dir=req.query.get("sort_dir", "asc"))
        rows, limit = paginate(req, rows)
        specs = detail and req.allowed("os_compute_api:os-flavor-extra-specs:index",
                                       {"project_id": req.ctx.project_id})
        body = {"flavors": [views.flavor(r, req.base_url, req.version, detail, specs) for r in rows]}
        body.update(next_links(req.base_url, "flavors/detail" if detail else "flavors", dict(req.query), rows,
                               limit, lambda r: r.id, "flavors_links"))
    return json_response(body)


def list_flavors(req: ApiRequest):
    return _list(req, False)


def list_flavors_detail(req: ApiRequest):
    return _list(req, True)


def show_flavor(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.get_flavor(uow, req.params["flavor_id"], req.ctx.project_id, _is_admin(req))
        specs = req.allowed("os_compute_api:os-flavor-extra-specs:index", {"project_id": req.ctx.project_id})
        return json_response({"flavor": views.flavor(row, req.base_url, req.version, True, specs)})


def _num(value, name: str, cast=int):
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute {name}.") from None


def create_flavor(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-manage:create")
    body = body_of(req, by_version(req, ("2.1", schemas.CREATE_FLAVOR), ("2.55", schemas.CREATE_FLAVOR_V2_55)),
                   "flavor")
    is_public = body.get("os-flavor-access:is_public", True)
    if isinstance(is_public, str):
        is_public = parse_bool("os-flavor-access:is_public", is_public)
    swap = body.get("swap", 0)
    cmd = svc.CreateFlavor(
        name=body["name"].strip(), ram=_num(body["ram"], "ram"), vcpus=_num(body["vcpus"], "vcpus"),
        disk=_num(body["disk"], "disk"), id=body.get("id"), swap=_num(swap, "swap") if swap != "" else 0,
        ephemeral=_num(body.get("OS-FLV-EXT-DATA:ephemeral", 0), "OS-FLV-EXT-DATA:ephemeral"),
        rxtx_factor=_num(body.get("rxtx_factor", 1.0), "rxtx_factor", float), is_public=is_public,
        description=body.get("description"))
    with req.deps.uow(write=True) as uow:
        row = svc.create_flavor(uow, cmd)
    return json_response({"flavor": views.flavor(row, req.base_url, req.version, True, True)})


def update_flavor(req: ApiRequest):
    if not req.version.matches("2.55"):
        raise NotFound("The resource could not be found.")  # nova: no PUT before 2.55 (405 via routing)
    req.enforce("os_compute_api:os-flavor-manage:update")
    body = body_of(req, schemas.UPDATE_FLAVOR_V2_55, "flavor")
    with req.deps.uow(write=True) as uow:
        row = svc.update_flavor(uow, req.params["flavor_id"], body["description"])
    return json_response({"flavor": views.flavor(row, req.base_url, req.version, True, True)})


def delete_flavor(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-manage:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_flavor(uow, req.params["flavor_id"])
    return empty_response(202)


# -- extra specs ----------------------------------------------------------------------------------


def list_extra_specs(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-extra-specs:index", {"project_id": req.ctx.project_id})
    with req.deps.uow() as uow:
        row = svc.get_flavor(uow, req.params["flavor_id"], req.ctx.project_id, _is_admin(req))
        return json_response({"extra_specs": dict(row.extra_specs or {})})


def create_extra_specs(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-extra-specs:create")
    specs = body_of(req, schemas.CREATE_EXTRA_SPECS, "extra_specs")
    with req.deps.uow(write=True) as uow:
        svc.set_extra_specs(uow, req.params["flavor_id"], specs)
    return json_response({"extra_specs": {k: str(v) for k, v in specs.items()}})


def show_extra_spec(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-extra-specs:show", {"project_id": req.ctx.project_id})
    key = req.params["key"]
    with req.deps.uow() as uow:
        row = svc.get_flavor(uow, req.params["flavor_id"], req.ctx.project_id, _is_admin(req))
        if key not in (row.extra_specs or {}):
            raise NotFound(f"Flavor {row.id} has no extra specs with key {key}.")
        return json_response({key: row.extra_specs[key]})


def update_extra_spec(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-extra-specs:update")
    body = body_of(req, schemas.UPDATE_EXTRA_SPEC)
    key = req.params["key"]
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    with req.deps.uow(write=True) as uow:
        svc.set_extra_specs(uow, req.params["flavor_id"], body)
    return json_response({key: str(body[key])})


def delete_extra_spec(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-extra-specs:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_extra_spec(uow, req.params["flavor_id"], req.params["key"])
    return empty_response(202)


# -- access ---------------------------------------------------------------------------------------


def list_flavor_access(req: ApiRequest):
    req.enforce("os_compute_api:os-flavor-access")
    with req.deps.uow() as uow:
        return json_response(views.access(svc.list_access(uow, req.params["flavor_id"])))


def flavor_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("There is no such action in the request body.")
    flavor_id = req.params["flavor_id"]
    if "addTenantAccess" in body:
        req.enforce("os_compute_api:os-flavor-access:add_tenant_access")
        tenant = body_of(req, schemas.ADD_TENANT_ACCESS, "addTenantAccess")["tenant"]
        with req.deps.uow(write=True) as uow:
            rows = svc.add_access(uow, flavor_id, tenant)
            return json_response(views.access(rows))
    if "removeTenantAccess" in body:
        req.enforce("os_compute_api:os-flavor-access:remove_tenant_access")
        tenant = body_of(req, schemas.REMOVE_TENANT_ACCESS, "removeTenantAccess")["tenant"]
        with req.deps.uow(write=True) as uow:
            rows = svc.remove_access(uow, flavor_id, tenant)
            return json_response(views.access(rows))
    raise BadRequest("There is no such action: " + next(iter(body)))
