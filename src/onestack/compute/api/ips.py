"""``/servers/{id}/ips``: the server's addresses by network (os-server-ips)."""

from __future__ import annotations

from onestack.core.errors import NotFound
from onestack.core.http import ApiRequest, json_response

from ..service import servers as svc
from .common import target
from .servers import caller


def _addresses(req: ApiRequest, rule: str) -> dict:
    with req.deps.uow() as uow:
        row = svc.get_server(uow, caller(req), req.params["server_id"])
        req.enforce(rule, target(row.project_id, row.user_id))
        return {net: [{"version": a["version"], "addr": a["addr"]} for a in items]
                for net, items in (row.addresses or {}).items()}


def list_ips(req: ApiRequest):
    return json_response({"addresses": _addresses(req, "os_compute_api:ips:index")})


def show_ips(req: ApiRequest):
    addresses = _addresses(req, "os_compute_api:ips:show")
    label = req.params["network_label"]
    if label not in addresses:
        raise NotFound("Instance is not a member of specified network")
    return json_response({label: addresses[label]})
