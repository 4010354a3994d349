"""/v2/info: import methods, stores and quota usage."""

from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..service import data as data_svc
from ..service import quotas as quotas_svc
from ..views import discovery as views


def show_import_info(req: ApiRequest):
    return json_response(views.import_info(data_svc.import_methods(req.deps)))


def _stores(req: ApiRequest) -> list[dict]:
    store = req.deps.store
    return [{"id": store.id, "description": store.description, "default": "true"}]


def list_stores(req: ApiRequest):
    return json_response(views.stores(_stores(req)))


def list_stores_detail(req: ApiRequest):
    req.enforce("stores_info_detail")
    stores = []
    for item in _stores(req):
        stores.append({**item, "type": req.deps.store.type, "weight": 0,
                       "properties": {"chunk_size": 4 << 20, "thin_provisioning": False}})
    return json_response(views.stores(stores))


def show_usage(req: ApiRequest):
    return json_response(views.usage(quotas_svc.project_usage(req.deps, req.ctx.project_id)))
