from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import placement as schemas
from ..service import providers as svc
from ..views import placement as views
from .common import body_of, since


def list_classes(req: ApiRequest):
    since(req, "1.2")
    req.enforce("placement:resource_classes:list")
    with req.deps.uow() as uow:
        return json_response({"resource_classes": [views.resource_class(n) for n in svc.list_classes(uow)]})


def create_class(req: ApiRequest):
    since(req, "1.2")
    req.enforce("placement:resource_classes:create")
    name = body_of(req, schemas.CREATE_CLASS)["name"]
    with req.deps.uow(write=True) as uow:
        svc.create_class(uow, name)
    return empty_response(201, {"Location": f"{req.base_url}/placement/resource_classes/{name}"})


def show_class(req: ApiRequest):
    since(req, "1.2")
    req.enforce("placement:resource_classes:show")
    name = req.params["name"]
    with req.deps.uow() as uow:
        if not svc.class_exists(uow, name):
            raise NotFound(f"No such resource class {name}.")
    return json_response(views.resource_class(name))


def update_class(req: ApiRequest):
    since(req, "1.2")
    req.enforce("placement:resource_classes:update")
    name = req.params["name"]
    if not req.version.matches("1.7"):
        raise BadRequest("Updating resource classes requires microversion 1.7 (create-or-keep semantics).")
    with req.deps.uow(write=True) as uow:
        created = svc.create_class(uow, name, exist_ok=True)
    location = {"Location": f"{req.base_url}/placement/resource_classes/{name}"}
    return empty_response(201 if created else 204, location)


def delete_class(req: ApiRequest):
    since(req, "1.2")
    req.enforce("placement:resource_classes:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_class(uow, req.params["name"])
    return empty_response()
