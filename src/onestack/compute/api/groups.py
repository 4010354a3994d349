from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import admin as schemas
from ..service import groups as svc
from .common import body_of, by_version, parse_bool, parse_int, target


def _view(row, members: list[str], v) -> dict:
    body = {"id": row.id, "name": row.name, "members": members}
    if v.matches("2.64"):
        body["policy"] = row.policy
        body["rules"] = dict(row.rules or {})
    else:
        body["policies"] = [row.policy]
        body["metadata"] = {}
    if v.matches("2.13"):
        body["project_id"] = row.project_id
        body["user_id"] = row.user_id
    return body


def list_groups(req: ApiRequest):
    req.enforce("os_compute_api:os-server-groups:index", target(req.ctx.project_id))
    project = req.ctx.project_id
    all_projects = "all_projects" in req.query and parse_bool("all_projects", req.query["all_projects"] or "true")
    if all_projects and req.allowed("os_compute_api:os-server-groups:index:all_projects", target(project)):
        project = None
    offset = parse_int("offset", req.query.get("offset"), 0) or 0
    limit = parse_int("limit", req.query.get("limit"), 0)
    with req.deps.uow() as uow:
        rows = svc.list_groups(uow, project)
        rows = rows[offset:offset + limit] if limit is not None else rows[offset:]
        members = svc.members(uow, [r.id for r in rows])
        return json_response({"server_groups": [_view(r, members[r.id], req.version) for r in rows]})


def create_group(req: ApiRequest):
    req.enforce("os_compute_api:os-server-groups:create", target(req.ctx.project_id, req.ctx.user_id))
    body = body_of(req, by_version(req, ("2.1", schemas.CREATE_GROUP), ("2.15", schemas.CREATE_GROUP_V2_15),
                                   ("2.64", schemas.CREATE_GROUP_V2_64)), "server_group")
    policy = body.get("policy") or body["policies"][0]
    rules = {k: int(v) for k, v in (body.get("rules") or {}).items()}
    with req.deps.uow(write=True) as uow:
        row = svc.create_group(uow, req.ctx.project_id, req.ctx.user_id, body["name"], policy, rules, req.deps.limit)
        out = _view(row, [], req.version)
    return json_response({"server_group": out})


def _project_scope(req: ApiRequest):
    return None if req.allowed("context_is_admin") else req.ctx.project_id


def show_group(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.get_group(uow, req.params["group_id"], _project_scope(req))
        req.enforce("os_compute_api:os-server-groups:show", target(row.project_id, row.user_id))
        return json_response({"server_group": _view(row, svc.members(uow, [row.id])[row.id], req.version)})


def delete_group(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        row = svc.get_group(uow, req.params["group_id"], _project_scope(req))
        req.enforce("os_compute_api:os-server-groups:delete", target(row.project_id, row.user_id))
        svc.delete_group(uow, row.id, None)
    return empty_response(204)
