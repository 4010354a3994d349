"""Backups: create, list, show, update, delete, restore, admin actions."""

from __future__ import annotations

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas.backups import CREATE_BACKUP, RESTORE_BACKUP, UPDATE_BACKUP
from ..schemas.volumes import RESET_STATUS
from ..service import backups as svc
from ..service.common import paginate, parse_bool, sort_rows
from ..views import backups as view
from ..views.common import collection
from .common import all_tenants, base, body_of, caller, list_params, target, version

SORT_KEYS = ("id", "name", "status", "size", "created_at", "updated_at", "volume_id", "project_id", "container")


def create_backup(req: ApiRequest):
    req.enforce("backup:create", target(req))
    body = body_of(req, CREATE_BACKUP, "backup")
    if "metadata" in body and not version(req).matches("3.43"):
        raise BadRequest("Invalid input received: 'metadata' needs microversion 3.43 or later.")
    cmd = svc.CreateBackup(volume_id=body["volume_id"], name=body.get("name"), description=body.get("description"),
                           container=body.get("container"),
                           incremental=parse_bool(body.get("incremental", False), "incremental"),
                           force=parse_bool(body.get("force", False), "force"), snapshot_id=body.get("snapshot_id"),
                           metadata=body.get("metadata") or {}, availability_zone=body.get("availability_zone"))
    with req.deps.uow(write=True) as uow:
        row = svc.create_backup(uow, caller(req), cmd, req.deps.limits, req.deps.zone)
        out = {"id": row.id, "name": row.name, "links": view.summary(row, base(req))["links"]}
    return json_response({"backup": out}, 202)


def _list(req: ApiRequest, detailed: bool):
    req.enforce("backup:get_all", target(req))
    limit, marker, offset, keys, with_count = list_params(req, SORT_KEYS)
    filters = {k: req.query[k] for k in ("name", "status", "volume_id", "project_id") if k in req.query}
    who = caller(req)
    with req.deps.uow() as uow:
        rows = svc.list_backups(uow, who, filters, all_tenants(req))
        page, more = paginate(sort_rows(rows, keys, lambda r, k: getattr(r, k, None)), limit, marker, offset)
        last = page[-1].id if page else None
        items = [view.detail(r, base(req), version(req), who.is_admin) if detailed else view.summary(r, base(req))
                 for r in page]
    return json_response(collection("backups", items, more, req.url, dict(req.query), last,
                                    len(rows) if with_count else None))


def list_backups(req: ApiRequest):
    return _list(req, False)


def list_backups_detail(req: ApiRequest):
    return _list(req, True)


def _backup(req: ApiRequest, uow, rule: str):
    row = svc.get_backup(uow, req.params["backup_id"], caller(req))
    req.enforce(rule, target(req, row.project_id))
    return row


def show_backup(req: ApiRequest):
    with req.deps.uow() as uow:
        row = _backup(req, uow, "backup:get")
        return json_response({"backup": view.detail(row, base(req), version(req), caller(req).is_admin)})


def update_backup(req: ApiRequest):
    if not version(req).matches("3.9"):
        raise BadRequest("Updating a backup needs microversion 3.9 or later.")
    body = body_of(req, UPDATE_BACKUP, "backup")
    with req.deps.uow(write=True) as uow:
        row = _backup(req, uow, "backup:update")
        svc.update_backup(uow, caller(req), row.id, body)
        uow.flush()
        out = view.detail(row, base(req), version(req), caller(req).is_admin)
    return json_response({"backup": out})


def delete_backup(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        row = _backup(req, uow, "backup:delete")
        svc.delete_backup(uow, caller(req), row.id)
    return empty_response(202)


def restore_backup(req: ApiRequest):
    body = body_of(req, RESTORE_BACKUP, "restore") or {}
    with req.deps.uow(write=True) as uow:
        row = _backup(req, uow, "backup:restore")
        backup, vol = svc.restore_backup(uow, caller(req), row.id, body.get("volume_id"), body.get("name"),
                                         req.deps.limits, req.deps.zone)
        out = {"backup_id": backup.id, "volume_id": vol.id, "volume_name": vol.name}
    return json_response({"restore": out}, 202)


def backup_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid input received: the action body must name exactly one action.")
    (name, args), = body.items()
    with req.deps.uow(write=True) as uow:
        if name == "os-reset_status":
            row = _backup(req, uow, "volume_extension:backup_admin_actions:reset_status")
            args = validate(RESET_STATUS, args)
            if not args.get("status"):
                raise BadRequest("Invalid input received: Must specify 'status'.")
            svc.reset_backup_status(uow, caller(req), row.id, args["status"])
        elif name == "os-force_delete":
            row = _backup(req, uow, "volume_extension:backup_admin_actions:force_delete")
            svc.delete_backup(uow, caller(req), row.id, force=True)
        else:
            raise BadRequest(f"There is no such action: {name}")
    return empty_response(202)
