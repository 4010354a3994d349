from __future__ import annotations

import uuid as uuidlib

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas import placement as schemas
from ..service import allocations as svc
from ..views import placement as views
from .common import body_of, parse_member_of, parse_required, parse_resources, since


def _consumer_id(value: str) -> str:
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        raise BadRequest(f"Malformed consumer_uuid: {value}") from None


def show_allocations(req: ApiRequest):
    req.enforce("placement:allocations:list")
    consumer_id = req.params["consumer_uuid"]
    with req.deps.uow() as uow:
        allocations = svc.consumer_allocations(uow, consumer_id)
        body: dict = {"allocations": allocations}
        consumer = svc.consumer(uow, consumer_id)
        if req.version.matches("1.12") and consumer is not None:
            body["project_id"], body["user_id"] = consumer.project_id, consumer.user_id
        if req.version.matches("1.28") and consumer is not None:
            body["consumer_generation"] = consumer.generation
        if req.version.matches("1.38") and consumer is not None:
            body["consumer_type"] = consumer.consumer_type or "unknown"
    return json_response(body)


def _schema(req: ApiRequest) -> dict:
    if req.version.matches("1.38"):
        return schemas.SET_ALLOCATIONS_V1_38
    if req.version.matches("1.28"):
        return schemas.SET_ALLOCATIONS_V1_28
    if req.version.matches("1.12"):
        return schemas.SET_ALLOCATIONS_V1_12
    return schemas.SET_ALLOCATIONS


def _command(req: ApiRequest, consumer_id: str, body: dict) -> svc.ConsumerAllocations:
    raw = body["allocations"]
    if isinstance(raw, list):
        allocations = {a["resource_provider"]["uuid"]: a["resources"] for a in raw}
    else:
        allocations = {rp: a["resources"] for rp, a in raw.items()}
    return svc.ConsumerAllocations(
        consumer_id=consumer_id, allocations=allocations,
        project_id=body.get("project_id") or req.ctx.project_id or "", user_id=body.get("user_id") or
        req.ctx.user_id or "", consumer_generation=body.get("consumer_generation"),
        check_generation=req.version.matches("1.28"), consumer_type=body.get("consumer_type"))


def set_allocations(req: ApiRequest):
    req.enforce("placement:allocations:update")
    consumer_id = _consumer_id(req.params["consumer_uuid"])
    body = body_of(req, _schema(req))
    if not body["allocations"] and not req.version.matches("1.26"):
        raise BadRequest("JSON does not validate: allocations must not be empty")
    with req.deps.uow(write=True) as uow:
        svc.replace_allocations(uow, [_command(req, consumer_id, body)])
    return empty_response()


def manage_allocations(req: ApiRequest):
    since(req, "1.13")
    req.enforce("placement:allocations:manage")
    body = req.json()
    if not isinstance(body, dict):
        raise BadRequest("JSON does not validate: expected an object of consumers")
    items = []
    for consumer_id, item in body.items():
        validate(_schema(req), item)
        items.append(_command(req, _consumer_id(consumer_id), item))
    with req.deps.uow(write=True) as uow:
        svc.replace_allocations(uow, items)
    return empty_response()


def delete_allocations(req: ApiRequest):
    req.enforce("placement:allocations:delete")
    with req.deps.uow(write=True) as uow:
        if not svc.delete_consumer(uow, req.params["consumer_uuid"]):
            raise NotFound(f"No allocations for consumer '{req.params['consumer_uuid']}'")
    return empty_response()


def usages(req: ApiRequest):
    since(req, "1.9")
    req.enforce("placement:usages")
    project_id = req.query.get("project_id")
    if not project_id:
        raise BadRequest("JSON does not validate: 'project_id' is a required property")
    with req.deps.uow() as uow:
        by_type = svc.project_usages(uow, project_id, req.query.get("user_id"), req.query.get("consumer_type"))
    if req.version.matches("1.38"):
        total: dict = {"consumer_count": 0}
        for values in by_type.values():
            for key, value in values.items():
                total[key] = total.get(key, 0) + value
        return json_response({"usages": {"all": total, **by_type}})
    flat: dict = {}
    for values in by_type.values():
        for key, value in values.items():
            if key != "consumer_count":
                flat[key] = flat.get(key, 0) + value
    return json_response({"usages": flat})


def allocation_candidates(req: ApiRequest):
    since(req, "1.10")
    req.enforce("placement:allocation_candidates:list")
    if "resources" not in req.query:
        raise BadRequest("JSON does not validate: 'resources' is a required property")
    resources = parse_resources(req.query["resources"])
    required, forbidden = parse_required(req.query.getlist("required"))
    member_of, not_member = parse_member_of(req.query.getlist("member_of"))
    limit = None
    if "limit" in req.query and req.version.matches("1.16"):
        try:
            limit = int(req.query["limit"])
        except ValueError:
            raise BadRequest("Invalid limit: expected an integer") from None
        if limit < 1:
            raise BadRequest("Invalid limit: must be at least 1")
    query = svc.CandidateQuery(resources=resources, required=required, forbidden=forbidden, member_of=member_of,
                               forbidden_aggregates=not_member, in_tree=req.query.get("in_tree"), limit=limit)
    with req.deps.uow() as uow:
        found = svc.candidates(uow, query)
    return json_response({
        "allocation_requests": [views.allocation_request(s.uuid, resources, req.version) for s in found],
        "provider_summaries": {s.uuid: views.provider_summary(s, resources, req.version) for s in found},
    })
