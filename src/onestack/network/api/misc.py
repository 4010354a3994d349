"""Version discovery, extensions, quotas, IP availability and tags."""

from __future__ import annotations

from onestack.core.errors import NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..extensions import EXTENSIONS
from ..schemas.quotas import TAGS, UPDATE_QUOTA
from ..service import quotas as svc
from ..views import versions as views
from .common import caller, collection, single


def list_versions(req: ApiRequest):
    return json_response(views.versions(req.base_url))


def show_version(req: ApiRequest):
    return json_response(views.version(req.base_url))


def list_extensions(req: ApiRequest):
    return json_response({"extensions": views.extensions()})


def show_extension(req: ApiRequest):
    for ext in EXTENSIONS:
        if ext["alias"] == req.params["alias"]:
            return json_response({"extension": views.extension(ext)})
    raise NotFound(f"Extension with alias {req.params['alias']} does not exist", type="HTTPNotFound")


# -- availability zones ----------------------------------------------------------------------------

# Every network and router lives in the one zone the views report ("nova", neutron's default).
ZONES = ({"name": "nova", "resource": "network", "state": "available"},
         {"name": "nova", "resource": "router", "state": "available"})


def list_availability_zones(req: ApiRequest):
    req.enforce("get_availability_zone")
    zones = [z for z in ZONES if all(req.query.get(k, z[k]) == z[k] for k in ("name", "resource", "state"))]
    return json_response({"availability_zones": zones})


# -- quotas ----------------------------------------------------------------------------------------

def list_quotas(req: ApiRequest):
    req.enforce("update_quota")
    with req.deps.uow() as uow:
        return json_response({"quotas": svc.list_quotas(uow, req.deps.limits)})


def _project(req: ApiRequest) -> str:
    project_id = req.params["project_id"]
    req.enforce("get_quota", {"project_id": project_id, "tenant_id": project_id})
    return project_id


def show_quota(req: ApiRequest):
    project_id = _project(req)
    with req.deps.uow() as uow:
        return json_response({"quota": svc.show_quota(uow, req.deps.limits, project_id)})


def show_quota_details(req: ApiRequest):
    project_id = _project(req)
    with req.deps.uow() as uow:
        return json_response({"quota": svc.quota_details(uow, req.deps.limits, project_id)})


def show_quota_default(req: ApiRequest):
    project_id = _project(req)
    return json_response({"quota": svc.default_quota(req.deps.limits, project_id)})


def show_own_quota(req: ApiRequest):
    req.params["project_id"] = req.ctx.project_id or ""
    return show_quota(req)


def update_quota(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("update_quota", {"project_id": project_id})
    body = req.json()
    validate(UPDATE_QUOTA, body)
    deps = req.deps
    out = deps.write(lambda uow: svc.update_quota(uow, deps.limits, project_id, body["quota"]))
    return json_response({"quota": out})


def delete_quota(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("delete_quota", {"project_id": project_id})
    req.deps.write(lambda uow: svc.delete_quota(uow, project_id))
    return empty_response()


# -- network IP availability -----------------------------------------------------------------------

def list_network_ip_availabilities(req: ApiRequest):
    req.enforce("get_network_ip_availability")
    with req.deps.uow() as uow:
        items = svc.list_ip_availability(uow, caller(req))
    return collection(req, "network_ip_availabilities", items, extra_filters=("ip_version",))


def show_network_ip_availability(req: ApiRequest):
    req.enforce("get_network_ip_availability")
    with req.deps.uow() as uow:
        return single(req, "network_ip_availability", svc.show_ip_availability(uow, caller(req),
                                                                                req.params["network_id"]))


# -- tags ------------------------------------------------------------------------------------------

def _tag_target(row) -> dict:
    return {"project_id": row.project_id, "tenant_id": row.project_id}


def list_tags(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.tagged(uow, caller(req), req.params["collection"], req.params["resource_id"])
        return json_response({"tags": list(row.tags or [])})


def check_tag(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.tagged(uow, caller(req), req.params["collection"], req.params["resource_id"])
        if req.params["tag"] not in (row.tags or []):
            raise NotFound(f"Tag {req.params['tag']} could not be found for {req.params['resource_id']}.",
                           type="TagNotFound")
    return empty_response()


def _mutate(req: ApiRequest, fn) -> list[str]:
    def run(uow):
        row = svc.tagged(uow, caller(req), req.params["collection"], req.params["resource_id"])
        req.enforce("update_tags", _tag_target(row))
        return fn(row)

    return req.deps.write(run)


def replace_tags(req: ApiRequest):
    body = req.json()
    validate(TAGS, body)
    tags = _mutate(req, lambda row: svc.set_tags(row, body["tags"]))
    return json_response({"tags": tags})


def add_tag(req: ApiRequest):
    tag = req.params["tag"]
    _mutate(req, lambda row: svc.set_tags(row, [*(row.tags or []), tag]))
    return empty_response(201)


def delete_tags(req: ApiRequest):
    _mutate(req, lambda row: svc.set_tags(row, []))
    return empty_response()


def delete_tag(req: ApiRequest):
    tag = req.params["tag"]

    def drop(row):
        if tag not in (row.tags or []):
            raise NotFound(f"Tag {tag} could not be found for {row.id}.", type="TagNotFound")
        return svc.set_tags(row, [t for t in row.tags if t != tag])

    _mutate(req, drop)
    return empty_response()
