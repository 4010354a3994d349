from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..service import providers as svc
from .common import since


def list_traits(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:traits:list")
    associated = None
    if "associated" in req.query:
        value = req.query["associated"].lower()
        if value not in ("true", "false"):
            raise BadRequest(f"The query parameter \"associated\" only accepts \"true\" or \"false\"; got {value}")
        associated = value == "true"
    with req.deps.uow() as uow:
        return json_response({"traits": svc.list_traits(uow, req.query.get("name"), associated)})


def show_trait(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:traits:show")
    with req.deps.uow() as uow:
        if not svc.trait_exists(uow, req.params["name"]):
            raise NotFound(f"No such trait(s): {req.params['name']}")
    return empty_response()


def create_trait(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:traits:update")
    name = req.params["name"]
    with req.deps.uow(write=True) as uow:
        created = svc.create_trait(uow, name)
    return empty_response(201 if created else 204, {"Location": f"{req.base_url}/placement/traits/{name}"})


def delete_trait(req: ApiRequest):
    since(req, "1.6")
    req.enforce("placement:traits:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_trait(uow, req.params["name"])
    return empty_response()
