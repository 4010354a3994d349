from __future__ import annotations

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas import admin as schemas
from ..service import aggregates as svc
from ..service.hosts import list_nodes
from ..views.common import isotime_us
from .common import body_of


def _view(row, v, full: bool = True) -> dict:
    body = {"availability_zone": (row.metadata_ or {}).get("availability_zone"),
            "created_at": isotime_us(row.created_at), "deleted": False, "deleted_at": None, "id": row.id,
            "name": row.name, "updated_at": isotime_us(row.updated_at)}
    if full:
        body["hosts"] = list(row.hosts or [])
        body["metadata"] = dict(row.metadata_ or {})
    if v.matches("2.41"):
        body["uuid"] = row.uuid
    return body


def _sync_placement(req: ApiRequest, host: str) -> None:
    """Mirror host aggregates into placement (as Nova does) so member_of filters see them; runs after
    the compute transaction committed (placement writes in its own)."""
    placement = req.deps.placement
    if placement is None:
        return
    with req.deps.uow() as uow:
        nodes = [n.id for n in list_nodes(uow) if n.host == host]
        aggregates = svc.aggregates_of_host(uow, host)
    for node_id in nodes:
        placement.set_aggregates(node_id, aggregates)


def list_aggregates(req: ApiRequest):
    req.enforce("os_compute_api:os-aggregates:index")
    with req.deps.uow() as uow:
        return json_response({"aggregates": [_view(r, req.version) for r in svc.list_aggregates(uow)]})


def create_aggregate(req: ApiRequest):
    req.enforce("os_compute_api:os-aggregates:create")
    body = body_of(req, schemas.CREATE_AGGREGATE, "aggregate")
    with req.deps.uow(write=True) as uow:
        row = svc.create_aggregate(uow, body["name"].strip(), body.get("availability_zone"))
        out = _view(row, req.version, full=False)
    return json_response({"aggregate": out})


def show_aggregate(req: ApiRequest):
    req.enforce("os_compute_api:os-aggregates:show")
    with req.deps.uow() as uow:
        return json_response({"aggregate": _view(svc.get_aggregate(uow, req.params["aggregate_id"]), req.version)})


def update_aggregate(req: ApiRequest):
    req.enforce("os_compute_api:os-aggregates:update")
    body = body_of(req, schemas.UPDATE_AGGREGATE, "aggregate")
    with req.deps.uow(write=True) as uow:
        row = svc.update_aggregate(uow, req.params["aggregate_id"], body)
        out = _view(row, req.version)
    return json_response({"aggregate": out})


def delete_aggregate(req: ApiRequest):
    req.enforce("os_compute_api:os-aggregates:delete")
    with req.deps.uow(write=True) as uow:
        svc.delete_aggregate(uow, req.params["aggregate_id"])
    return empty_response(200)


def aggregate_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid aggregate action.")
    name, args = next(iter(body.items()))
    with req.deps.uow(write=True) as uow:
        if name == "add_host":
            req.enforce("os_compute_api:os-aggregates:add_host")
            validate(schemas.AGGREGATE_HOST, args)
            row = svc.add_host(uow, req.params["aggregate_id"], args["host"])
        elif name == "remove_host":
            req.enforce("os_compute_api:os-aggregates:remove_host")
            validate(schemas.AGGREGATE_HOST, args)
            row = svc.remove_host(uow, req.params["aggregate_id"], args["host"])
        elif name == "set_metadata":
            req.enforce("os_compute_api:os-aggregates:set_metadata")
            validate(schemas.AGGREGATE_METADATA, args)
            row = svc.set_metadata(uow, req.params["aggregate_id"], args["metadata"])
        else:
            raise BadRequest(f"Invalid aggregate action {name}.")
        out = _view(row, req.version)
    if name in ("add_host", "remove_host"):
        _sync_placement(req, args["host"])
    return json_response({"aggregate": out})
