from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import keypairs as schemas
from ..service import keypairs as svc
from ..views import keypairs as views
from ..views.common import next_links
from .common import body_of, by_version, paginate


def _user(req: ApiRequest) -> str:
    if req.version.matches("2.10") and req.query.get("user_id"):
        return req.query["user_id"]
    return req.ctx.user_id


def list_keypairs(req: ApiRequest):
    user_id = _user(req)
    req.enforce("os_compute_api:os-keypairs:index", {"user_id": user_id})
    with req.deps.uow() as uow:
        rows = svc.list_keypairs(uow, user_id)
        limit = None
        if req.version.matches("2.35"):
            rows, limit = paginate(req, rows, key=lambda r: r.name)
        body = {"keypairs": [views.keypair_summary(r, req.version) for r in rows]}
        body.update(next_links(req.base_url, "os-keypairs", dict(req.query), rows, limit, lambda r: r.name,
                               "keypairs_links"))
    return json_response(body)


def create_keypair(req: ApiRequest):
    schema = by_version(req, ("2.1", schemas.CREATE_KEYPAIR), ("2.2", schemas.CREATE_KEYPAIR_V2_2),
                        ("2.10", schemas.CREATE_KEYPAIR_V2_10), ("2.92", schemas.CREATE_KEYPAIR_V2_92))
    body = body_of(req, schema, "keypair")
    user_id = body.get("user_id") or req.ctx.user_id
    req.enforce("os_compute_api:os-keypairs:create", {"user_id": user_id})
    cmd = svc.CreateKeyPair(name=body["name"], user_id=user_id, project_id=req.ctx.project_id,
                            public_key=body.get("public_key"), type=body.get("type", "ssh"))
    with req.deps.uow(write=True) as uow:
        row, private = svc.create_keypair(uow, cmd, req.deps.limit)
    status = 201 if req.version.matches("2.2") else 200
    return json_response({"keypair": views.keypair_created(row, req.version, private)}, status)


def show_keypair(req: ApiRequest):
    user_id = _user(req)
    req.enforce("os_compute_api:os-keypairs:show", {"user_id": user_id})
    with req.deps.uow() as uow:
        row = svc.get_keypair(uow, user_id, req.params["name"])
        return json_response({"keypair": views.keypair_detail(row, req.version)})


def delete_keypair(req: ApiRequest):
    user_id = _user(req)
    req.enforce("os_compute_api:os-keypairs:delete", {"user_id": user_id})
    with req.deps.uow(write=True) as uow:
        svc.delete_keypair(uow, user_id, req.params["name"])
    return empty_response(204 if req.version.matches("2.2") else 202)
