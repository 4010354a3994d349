"""The v3 attachments API (3.27+)."""

from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.attachments import CREATE_ATTACHMENT, UPDATE_ATTACHMENT
from ..service import attachments as svc
from ..service.common import paginate, sort_rows
from ..service.volumes import get_volume
from ..views import attachments as view
from ..views.common import collection
from .common import all_tenants, body_of, caller, list_params, target, version

SORT_KEYS = ("id", "created_at", "updated_at", "volume_id", "instance_uuid")


def _require_327(req: ApiRequest) -> None:
    if not version(req).matches("3.27"):
        raise NotFound("The resource could not be found.")


def create_attachment(req: ApiRequest):
    _require_327(req)
    body = body_of(req, CREATE_ATTACHMENT, "attachment")
    with req.deps.uow(write=True) as uow:
        vol = get_volume(uow, body["volume_uuid"], caller(req))
        req.enforce("volume:attachment_create", target(req, vol.project_id))
        mode = body.get("mode", "rw")
        if mode != "rw" and not version(req).matches("3.54"):
            raise BadRequest("Invalid input received: 'mode' needs microversion 3.54 or later.")
        att, _ = svc.create_attachment(uow, caller(req), vol.id, body.get("instance_uuid"), body.get("connector"),
                                       mode)
        out = view.detail(att)
    return json_response({"attachment": out})


def _list(req: ApiRequest, detailed: bool):
    _require_327(req)
    req.enforce("volume:attachment_get_all", target(req))
    limit, marker, offset, keys, _ = list_params(req, SORT_KEYS)
    filters = {k: req.query[k] for k in ("volume_id", "instance_id", "status", "attach_status") if k in req.query}
    with req.deps.uow() as uow:
        rows = svc.list_attachments(uow, caller(req), filters, all_tenants(req))
        page, more = paginate(sort_rows(rows, keys, lambda r, k: getattr(r, k, None)), limit, marker, offset)
        last = page[-1].id if page else None
        items = [view.detail(r) if detailed else view.summary(r) for r in page]
    return json_response(collection("attachments", items, more, req.url, dict(req.query),
                                    last))


def list_attachments(req: ApiRequest):
    return _list(req, False)


def list_attachments_detail(req: ApiRequest):
    return _list(req, True)


def show_attachment(req: ApiRequest):
    _require_327(req)
    with req.deps.uow() as uow:
        att = svc.get_attachment(uow, caller(req), req.params["attachment_id"])
        req.enforce("volume:attachment_get", target(req, att.project_id))
        return json_response({"attachment": view.detail(att)})


def update_attachment(req: ApiRequest):
    _require_327(req)
    body = body_of(req, UPDATE_ATTACHMENT, "attachment")
    with req.deps.uow(write=True) as uow:
        att = svc.get_attachment(uow, caller(req), req.params["attachment_id"])
        req.enforce("volume:attachment_update", target(req, att.project_id))
        att = svc.update_attachment(uow, caller(req), att.id, body["connector"])
        out = view.detail(att)
    return json_response({"attachment": out})


def delete_attachment(req: ApiRequest):
    _require_327(req)
    with req.deps.uow(write=True) as uow:
        att = svc.get_attachment(uow, caller(req), req.params["attachment_id"])
        req.enforce("volume:attachment_delete", target(req, att.project_id))
        vol = svc.delete_attachment(uow, caller(req), att.id)
        remaining = [view.summary(a) for a in svc.active_attachments(uow, vol.id)]
    return json_response({"attachments": remaining})


def attachment_action(req: ApiRequest):
    _require_327(req)
    body = req.json()
    if not isinstance(body, dict) or "os-complete" not in body:
        raise BadRequest("There is no such action.")
    if not version(req).matches("3.44"):
        raise NotFound("The resource could not be found.")
    with req.deps.uow(write=True) as uow:
        att = svc.get_attachment(uow, caller(req), req.params["attachment_id"])
        req.enforce("volume:attachment_complete", target(req, att.project_id))
        svc.complete_attachment(uow, caller(req), att.id)
    return empty_response(204)
