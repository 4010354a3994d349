"""Volume transfers: ``/os-volume-transfer`` and, from 3.55, ``/volume-transfers``."""

from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.transfers import ACCEPT_TRANSFER, CREATE_TRANSFER
from ..service import transfers as svc
from ..service.common import paginate, parse_bool, sort_rows
from ..views import transfers as view
from ..views.common import collection
from .common import all_tenants, base, body_of, caller, list_params, target, version

SORT_KEYS = ("id", "name", "created_at", "volume_id")


def _kind(req: ApiRequest) -> str:
    return "volume-transfers" if "/volume-transfers" in req.raw.url.path else "os-volume-transfer"


def create_transfer(req: ApiRequest):
    req.enforce("volume:create_transfer", target(req))
    body = body_of(req, CREATE_TRANSFER, "transfer")
    no_snapshots = parse_bool(body.get("no_snapshots", False), "no_snapshots") and version(req).matches("3.55")
    with req.deps.uow(write=True) as uow:
        row, auth_key = svc.create_transfer(uow, caller(req), body["volume_id"], body.get("name"), no_snapshots)
        out = {**view.detail(row, base(req), _kind(req), version(req)), "auth_key": auth_key}
    return json_response({"transfer": out}, 202)


def _list(req: ApiRequest, detailed: bool):
    req.enforce("volume:get_all_transfers", target(req))
    limit, marker, offset, keys, _ = list_params(req, SORT_KEYS)
    filters = {k: req.query[k] for k in ("name", "volume_id") if k in req.query}
    with req.deps.uow() as uow:
        rows = svc.list_transfers(uow, caller(req), all_tenants(req), filters)
        page, more = paginate(sort_rows(rows, keys, lambda r, k: getattr(r, k, None)), limit, marker, offset)
        last = page[-1].id if page else None
        render = (lambda r: view.detail(r, base(req), _kind(req), version(req))) if detailed else (
            lambda r: view.summary(r, base(req), _kind(req)))
        items = [render(r) for r in page]
    return json_response(collection("transfers", items, more, req.url, dict(req.query),
                                    last))


def list_transfers(req: ApiRequest):
    return _list(req, False)


def list_transfers_detail(req: ApiRequest):
    return _list(req, True)


def show_transfer(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.get_transfer(uow, req.params["transfer_id"], caller(req))
        req.enforce("volume:get_transfer", target(req, row.source_project_id))
        return json_response({"transfer": view.detail(row, base(req), _kind(req), version(req))})


def delete_transfer(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        row = svc.get_transfer(uow, req.params["transfer_id"], caller(req))
        req.enforce("volume:delete_transfer", target(req, row.source_project_id))
        svc.delete_transfer(uow, caller(req), row.id)
    return empty_response(202)


def accept_transfer(req: ApiRequest):
    req.enforce("volume:accept_transfer", target(req))
    body = body_of(req, ACCEPT_TRANSFER, "accept")
    with req.deps.uow(write=True) as uow:
        row = svc.accept_transfer(uow, caller(req), req.params["transfer_id"], str(body["auth_key"]),
                                  req.deps.limits)
        out = view.summary(row, base(req), _kind(req))
    return json_response({"transfer": out}, 202)
