from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import placement as schemas
from ..service import allocations as alloc_svc
from ..service import providers as svc
from ..views import placement as views
from .common import body_of, parse_member_of, parse_required, parse_resources, since


def list_providers(req: ApiRequest):
    req.enforce("placement:resource_providers:list")
    required, forbidden = parse_required(req.query.getlist("required")) if req.version.matches("1.18") else ((), ())
    member_of, _ = parse_member_of(req.query.getlist("member_of")) if req.version.matches("1.3") else ((), ())
    resources = parse_resources(req.query["resources"]) if "resources" in req.query and req.version.matches(
        "1.4") else None
    flt = svc.ProviderFilter(name=req.query.get("name"), uuid=req.query.get("uuid"),
                             in_tree=req.query.get("in_tree") if req.version.matches("1.14") else None,
                             member_of=member_of, resources=resources, required=required, forbidden=forbidden)
    with req.deps.uow() as uow:
        rows = svc.list_providers(uow, flt)
        return json_response({"resource_providers": [views.provider(r, req.version) for r in rows]})


def create_provider(req: ApiRequest):
    req.enforce("placement:resource_providers:create")
    body = body_of(req, schemas.CREATE_PROVIDER_V1_14 if req.version.matches("1.14") else schemas.CREATE_PROVIDER)
    with req.deps.uow(write=True) as uow:
        rp = svc.create_provider(uow, body["name"], body.get("uuid"), body.get("parent_provider_uuid"))
    location = {"Location": f"{req.base_url}/placement/resource_providers/{rp.uuid}"}
    if req.version.matches("1.20"):
        return json_response(views.provider(rp, req.version), 200, location)
    return empty_response(201, location)


def show_provider(req: ApiRequest):
    req.enforce("placement:resource_providers:show")
    with req.deps.uow() as uow:
        return json_response(views.provider(svc.get_provider(uow, req.params["uuid"]), req.version))


def update_provider(req: ApiRequest):
    req.enforce("placement:resource_providers:update")
    body = body_of(req, schemas.UPDATE_PROVIDER_V1_14 if req.version.matches("1.14") else schemas.UPDATE_PROVIDER)
    with req.deps.uow(write=True) as uow:
        rp = svc.update_provider(uow, req.params["uuid"], body["name"], body.get("parent_provider_uuid"),
                                 "parent_provider_uuid" in body)
    return json_response(views.provider(rp, req.version))


def delete_provider(req: ApiRequest):
    req.enforce("placement:resource_providers:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_provider(uow, req.params["uuid"])
    return empty_response()


# -- inventories ------------------------------------------------------------------------------------


def list_inventories(req: ApiRequest):
    req.enforce("placement:resource_providers:inventories:list")
    with req.deps.uow() as uow:
        rp = svc.get_provider(uow, req.params["uuid"])
        return json_response(views.inventories(svc.inventories(uow, rp), rp.generation))


def set_inventories(req: ApiRequest):
    req.enforce("placement:resource_providers:inventories:update")
    body = body_of(req, schemas.SET_INVENTORIES)
    with req.deps.uow(write=True) as uow:
        rp = svc.get_provider(uow, req.params["uuid"], lock=True)
        svc.check_generation(rp, body["resource_provider_generation"])
        rows = svc.set_inventories(uow, rp, body["inventories"])
        out = views.inventories(rows, rp.generation)
    return json_response(out)


def delete_inventories(req: ApiRequest):
    since(req, "1.5")
    req.enforce("placement:resource_providers:inventories:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_inventories(uow, svc.get_provider(uow, req.params["uuid"], lock=True))
    return empty_response()


def create_inventory(req: ApiRequest):
    req.enforce("placement:resource_providers:inventories:create")
    body = body_of(req, schemas.CREATE_INVENTORY)
    rc = body.pop("resource_class")
    generation = body.pop("resource_provider_generation", None)
    with req.deps.uow(write=True) as uow:
        rp = svc.get_provider(uow, req.params["uuid"], lock=True)
        if generation is not None:
            svc.check_generation(rp, generation)
        row = svc.set_inventory(uow, rp, rc, body, create=True)
        out = {**views.inventory(row), "resource_provider_generation": rp.generation}
    location = {"Location": f"{req.base_url}/placement/resource_providers/{rp.uuid}/inventories/{rc}"}
    return json_response(out, 201, location)


def show_inventory(req: ApiRequest):
    req.enforce("placement:resource_providers:inventories:show")
    rc = req.params["rc"]
    with req.deps.uow() as uow:
        rp = svc.get_provider(uow, req.params["uuid"])
        row = next((i for i in svc.inventories(uow, rp) if i.resource_class == rc), None)
        if row is None:
            raise NotFound(f"No inventory of class {rc} for {rp.uuid}")
        return json_response({**views.inventory(row), "resource_provider_generation": rp.generation})


def update_inventory(req: ApiRequest):
    req.enforce("placement:resource_providers:inventories:update")
    body = body_of(req, schemas.UPDATE_INVENTORY)
    generation = body.pop("resource_provider_generation")
    with req.deps.uow(write=True) as uow:
        rp = svc.get_provider(uow, req.params["uuid"], lock=True)
        svc.check_generation(rp, generation)
        row = svc.set_inventory(uow, rp, req.params["rc"], body, create=False)
        out = {**views.inventory(row), "resource_provider_generation": rp.generation}
    return json_response(out)


def delete_inventory(req: ApiRequest):
    req.enforce("placement:resource_providers:inventories:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_inventory(uow, svc.get_provider(uow, req.params["uuid"], lock=True), req.params["rc"])
    return empty_response()


# -- usages, allocations, traits, aggregates of one provider ---------------------------------------


def provider_usages(req: ApiRequest):
    req.enforce("placement:resource_providers:usages")
    with req.deps.uow() as uow:
        rp = svc.get_provider(uow, req.params["uuid"])
        return json_response({"usages": alloc_svc.provider_usages(uow, rp),
                              "resource_provider_generation": rp.generation})


def provider_allocations(req: ApiRequest):
    since(req, "1.11")
    req.enforce("placement:resource_providers:allocations:list")
    with req.deps.uow() as uow:
        rp = svc.get_provider(uow, req.params["uuid"])
        return json_response({"allocations": alloc_svc.provider_allocations(uow, rp),
                              "resource_provider_generation": rp.generation})


def list_provider_traits(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:resource_providers:traits:list")
    with req.deps.uow() as uow:
        rp = svc.get_provider(uow, req.params["uuid"])
        return json_response({"traits": svc.provider_traits(uow, rp), "resource_provider_generation": rp.generation})


def set_provider_traits(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:resource_providers:traits:update")
    body = body_of(req, schemas.SET_TRAITS)
    with req.deps.uow(write=True) as uow:
        rp = svc.get_provider(uow, req.params["uuid"], lock=True)
        svc.check_generation(rp, body["resource_provider_generation"])
        traits = svc.set_provider_traits(uow, rp, body["traits"])
        out = {"traits": traits, "resource_provider_generation": rp.generation}
    return json_response(out)


def delete_provider_traits(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:resource_providers:traits:delete")
    with req.deps.uow(write=True) as uow:
        svc.set_provider_traits(uow, svc.get_provider(uow, req.params["uuid"], lock=True), [])
    return empty_response()


def list_provider_aggregates(req: ApiRequest):
    since(req, "1.1")
    req.enforce("placement:resource_providers:aggregates:list")
    with req.deps.uow() as uow:
        rp = svc.get_provider(uow, req.params["uuid"])
        body = {"aggregates": svc.provider_aggregates(uow, rp)}
        if req.version.matches("1.19"):
            body["resource_provider_generation"] = rp.generation
        return json_response(body)


def set_provider_aggregates(req: ApiRequest):
    since(req, "1.1")
    req.enforce("placement:resource_providers:aggregates:update")
    new = req.version.matches("1.19")
    body = body_of(req, schemas.SET_AGGREGATES_V1_19 if new else schemas.SET_AGGREGATES)
    if new and not isinstance(body, dict):
        raise BadRequest("JSON does not validate")
    with req.deps.uow(write=True) as uow:
        rp = svc.get_provider(uow, req.params["uuid"], lock=True)
        if new:
            svc.check_generation(rp, body["resource_provider_generation"])
        aggs = svc.set_provider_aggregates(uow, rp, body["aggregates"] if new else body)
        out = {"aggregates": aggs}
        if new:
            out["resource_provider_generation"] = rp.generation
    return json_response(out)
