"""Regions, services and endpoints."""

from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.catalog import (
    CREATE_ENDPOINT,
    CREATE_REGION,
    CREATE_SERVICE,
    UPDATE_ENDPOINT,
    UPDATE_REGION,
    UPDATE_SERVICE,
)
from ..service import catalog as svc
from ..service.common import split_extra
from ..views.catalog import endpoint as endpoint_view
from ..views.catalog import region as region_view
from ..views.catalog import service as service_view
from .common import body_of, list_response, query_filters


def list_regions(req: ApiRequest):
    req.enforce("identity:list_regions")
    with req.deps.uow() as uow:
        return list_response(req, "regions", svc.list_regions(uow, query_filters(req, ("parent_region_id",))),
                             region_view)


def show_region(req: ApiRequest):
    req.enforce("identity:get_region")
    with req.deps.uow() as uow:
        return json_response({"region": region_view(svc.get_region(uow, req.params["region_id"]), req.base_url)})


def create_region(req: ApiRequest, region_id: str | None = None):
    req.enforce("identity:create_region")
    body = body_of(req, CREATE_REGION, "region")
    with req.deps.uow(write=True) as uow:
        region = svc.create_region(uow, region_id or body.get("id"), body.get("description") or "",
                                   body.get("parent_region_id"))
        out = region_view(region, req.base_url)
    return json_response({"region": out}, 201)


def put_region(req: ApiRequest):
    return create_region(req, req.params["region_id"])


def update_region(req: ApiRequest):
    req.enforce("identity:update_region")
    body = body_of(req, UPDATE_REGION, "region")
    with req.deps.uow(write=True) as uow:
        out = region_view(svc.update_region(uow, req.params["region_id"], body), req.base_url)
    return json_response({"region": out})


def delete_region(req: ApiRequest):
    req.enforce("identity:delete_region")
    with req.deps.uow(write=True) as uow:
        svc.delete_region(uow, req.params["region_id"])
    return empty_response()


def list_services(req: ApiRequest):
    req.enforce("identity:list_services")
    with req.deps.uow() as uow:
        return list_response(req, "services", svc.list_services(uow, query_filters(req, ("type", "name"))),
                             service_view)


def show_service(req: ApiRequest):
    req.enforce("identity:get_service")
    with req.deps.uow() as uow:
        return json_response({"service": service_view(svc.get_service(uow, req.params["service_id"]),
                                                      req.base_url)})


def create_service(req: ApiRequest):
    req.enforce("identity:create_service")
    core, extra = split_extra(body_of(req, CREATE_SERVICE, "service"), ("type", "name", "description", "enabled"))
    with req.deps.uow(write=True) as uow:
        service = svc.create_service(uow, core["type"], core.get("name") or "", core.get("description"),
                                     core.get("enabled", True), extra)
        out = service_view(service, req.base_url)
    return json_response({"service": out}, 201)


def update_service(req: ApiRequest):
    req.enforce("identity:update_service")
    body = body_of(req, UPDATE_SERVICE, "service")
    with req.deps.uow(write=True) as uow:
        out = service_view(svc.update_service(uow, req.params["service_id"], body), req.base_url)
    return json_response({"service": out})


def delete_service(req: ApiRequest):
    req.enforce("identity:delete_service")
    with req.deps.uow(write=True) as uow:
        svc.delete_service(uow, req.params["service_id"])
    return empty_response()


def list_endpoints(req: ApiRequest):
    req.enforce("identity:list_endpoints")
    filters = query_filters(req, ("service_id", "interface", "region_id"))
    with req.deps.uow() as uow:
        return list_response(req, "endpoints", svc.list_endpoints(uow, filters), endpoint_view)


def show_endpoint(req: ApiRequest):
    req.enforce("identity:get_endpoint")
    with req.deps.uow() as uow:
        return json_response({"endpoint": endpoint_view(svc.get_endpoint(uow, req.params["endpoint_id"]),
                                                        req.base_url)})


def create_endpoint(req: ApiRequest):
    req.enforce("identity:create_endpoint")
    body = body_of(req, CREATE_ENDPOINT, "endpoint")
    with req.deps.uow(write=True) as uow:
        endpoint = svc.create_endpoint(uow, body["service_id"], body["interface"], body["url"],
                                       body.get("region_id") or body.get("region"), body.get("enabled", True))
        out = endpoint_view(endpoint, req.base_url)
    return json_response({"endpoint": out}, 201)


def update_endpoint(req: ApiRequest):
    req.enforce("identity:update_endpoint")
    body = body_of(req, UPDATE_ENDPOINT, "endpoint")
    if "region" in body and "region_id" not in body:
        body["region_id"] = body.pop("region")
    with req.deps.uow(write=True) as uow:
        out = endpoint_view(svc.update_endpoint(uow, req.params["endpoint_id"], body), req.base_url)
    return json_response({"endpoint": out})


def delete_endpoint(req: ApiRequest):
    req.enforce("identity:delete_endpoint")
    with req.deps.uow(write=True) as uow:
        svc.delete_endpoint(uow, req.params["endpoint_id"])
    return empty_response()
