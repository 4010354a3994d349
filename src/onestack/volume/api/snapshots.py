"""Snapshots: CRUD, metadata and admin actions."""

from __future__ import annotations

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas.snapshots import CREATE_SNAPSHOT, UPDATE_SNAPSHOT
from ..schemas.volumes import RESET_STATUS
from ..service import snapshots as svc
from ..service.common import paginate, parse_bool, sort_rows
from ..views import snapshots as view
from ..views.common import collection
from .common import all_tenants, body_of, caller, list_params, parse_json_filter, target, version
from .metadata import MetadataApi

SORT_KEYS = ("id", "name", "status", "size", "created_at", "updated_at", "volume_id", "project_id")


def create_snapshot(req: ApiRequest):
    req.enforce("volume:create_snapshot", target(req))
    body = body_of(req, CREATE_SNAPSHOT, "snapshot")
    cmd = svc.CreateSnapshot(volume_id=body["volume_id"], name=body.get("name", body.get("display_name")),
                             description=body.get("description", body.get("display_description")),
                             force=parse_bool(body.get("force", False), "force"), metadata=body.get("metadata") or {})
    with req.deps.uow(write=True) as uow:
        row = svc.create_snapshot(uow, caller(req), cmd, req.deps.limits, version(req).matches("3.66"))
        out = view.summary(row, version(req))
    return json_response({"snapshot": out}, 202)


def _list(req: ApiRequest, detailed: bool):
    req.enforce("volume:get_all_snapshots", target(req))
    limit, marker, offset, keys, with_count = list_params(req, SORT_KEYS)
    filters = {k: req.query[k] for k in ("name", "status", "volume_id", "project_id") if k in req.query}
    if "metadata" in req.query:
        filters["metadata"] = parse_json_filter(req.query["metadata"], "metadata")
    if version(req).matches("3.34"):
        filters.update({k: req.query[k] for k in ("name~", "status~") if k in req.query})
    with req.deps.uow() as uow:
        rows = svc.list_snapshots(uow, caller(req), filters, all_tenants(req))
        page, more = paginate(sort_rows(rows, keys, lambda r, k: getattr(r, k, None)), limit, marker, offset)
        last = page[-1].id if page else None
        render = view.detail if detailed else view.summary
        items = [render(r, version(req)) for r in page]
    return json_response(collection("snapshots", items, more, req.url, dict(req.query),
                                    last, len(rows) if with_count else None))


def list_snapshots(req: ApiRequest):
    return _list(req, False)


def list_snapshots_detail(req: ApiRequest):
    return _list(req, True)


def _snapshot(req: ApiRequest, uow, rule: str):
    row = svc.get_snapshot(uow, req.params["snapshot_id"], caller(req))
    req.enforce(rule, target(req, row.project_id))
    return row


def show_snapshot(req: ApiRequest):
    with req.deps.uow() as uow:
        return json_response({"snapshot": view.detail(_snapshot(req, uow, "volume:get_snapshot"), version(req))})


def update_snapshot(req: ApiRequest):
    body = body_of(req, UPDATE_SNAPSHOT, "snapshot")
    with req.deps.uow(write=True) as uow:
        row = _snapshot(req, uow, "volume:update_snapshot")
        svc.update_snapshot(uow, caller(req), row.id, body)
        uow.flush()
        out = view.summary(row, version(req))
    return json_response({"snapshot": out})


def delete_snapshot(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        row = _snapshot(req, uow, "volume:delete_snapshot")
        svc.delete_snapshot(uow, caller(req), row.id)
    return empty_response(202)


def snapshot_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid input received: the action body must name exactly one action.")
    (name, args), = body.items()
    with req.deps.uow(write=True) as uow:
        if name == "os-reset_status":
            row = _snapshot(req, uow, "volume_extension:snapshot_admin_actions:reset_status")
            args = validate(RESET_STATUS, args)
            if not args.get("status"):
                raise BadRequest("Invalid input received: Must specify 'status'.")
            svc.reset_snapshot_status(uow, caller(req), row.id, args["status"])
        elif name == "os-force_delete":
            row = _snapshot(req, uow, "volume_extension:snapshot_admin_actions:force_delete")
            svc.delete_snapshot(uow, caller(req), row.id, force=True)
        elif name == "os-update_snapshot_status":
            row = _snapshot(req, uow, "volume:update_snapshot")
            row.status = (args or {}).get("status", row.status)
            if (args or {}).get("progress"):
                row.progress = args["progress"]
        else:
            raise BadRequest(f"There is no such action: {name}")
    return empty_response(202)


METADATA = MetadataApi("Snapshot", _snapshot, svc, "volume:get_snapshot_metadata", "volume:update_snapshot_metadata",
                       "volume:update_snapshot_metadata", "volume:delete_snapshot_metadata")

