"""User messages (3.3+): list, show, delete."""

from __future__ import annotations

from onestack.core.errors import NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..service import messages as svc
from ..service.common import paginate, sort_rows
from ..views.common import collection
from ..views.messages import message as view
from .common import base, caller, list_params, target, version

SORT_KEYS = ("id", "created_at", "event_id", "resource_type", "resource_uuid", "message_level")


def _require_33(req: ApiRequest) -> None:
    if not version(req).matches("3.3"):
        raise NotFound("The resource could not be found.")


def list_messages(req: ApiRequest):
    _require_33(req)
    req.enforce("message:get_all", target(req))
    limit, marker, offset, keys, _ = list_params(req, SORT_KEYS)
    filters = {k: req.query[k] for k in ("event_id", "resource_type", "resource_uuid", "message_level")
               if k in req.query}
    with req.deps.uow() as uow:
        rows = svc.list_messages(uow, caller(req), filters)
        page, more = paginate(sort_rows(rows, keys, lambda r, k: getattr(r, k, None)), limit, marker, offset)
        last = page[-1].id if page else None
        items = [view(r, base(req)) for r in page]
    more = more and version(req).matches("3.5")
    return json_response(collection("messages", items, more, req.url, dict(req.query), last))


def show_message(req: ApiRequest):
    _require_33(req)
    with req.deps.uow() as uow:
        row = svc.get_message(uow, caller(req), req.params["message_id"])
        req.enforce("message:get", target(req, row.project_id))
        return json_response({"message": view(row, base(req))})


def delete_message(req: ApiRequest):
    _require_33(req)
    with req.deps.uow(write=True) as uow:
        row = svc.get_message(uow, caller(req), req.params["message_id"])
        req.enforce("message:delete", target(req, row.project_id))
        svc.delete_message(uow, caller(req), row.id)
    return empty_response(204)
