from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response
from onestack.core.pagination import parse_limit

from ..schemas.ports import CREATE_PORT, UPDATE_PORT
from ..service import networks as net_svc
from ..service import ports as svc
from ..views import ports as views
from .common import attribute_policies, bodies, body_of, caller, collection, created, if_match, single

ATTRS = ("device_owner", "mac_address", "fixed_ips", "binding:host_id", "binding:profile", "port_security_enabled",
         "allowed_address_pairs")


def _target(uow, port) -> dict:
    net = uow.session.get(net_svc.m.Network, port.network_id)
    return {"project_id": port.project_id, "tenant_id": port.project_id,
            "network:project_id": net.project_id if net else "", "network:shared": bool(net and net.shared),
            "device_owner": port.device_owner}


def list_ports(req: ApiRequest):
    admin = req.ctx.is_admin
    query = req.query
    filters = {k: query.getlist(k) for k in svc.PORT_COLUMNS if k in query}
    # pages straight from the database when the order is the default one
    sql_paging = "limit" in query and not any(k in query for k in ("sort_key", "sort_dir", "page_reverse")) and \
        all(k in svc.PORT_COLUMNS or k in ("limit", "marker", "fields") for k in query)
    limit = parse_limit(query.get("limit"), max_limit=100000) if sql_paging else None
    with req.deps.uow() as uow:
        rows, more = svc.list_ports(uow, caller(req), filters, limit or None,
                                    query.get("marker") if limit else None)
        items = [views.port(p, admin) for p in rows]
    return collection(req, "ports", items, extra_filters=("binding:host_id",), paged=more if limit else None)


def show_port(req: ApiRequest):
    with req.deps.uow() as uow:
        port = svc.get_port(uow, caller(req), req.params["port_id"])
        req.enforce("get_port", _target(uow, port))
        return single(req, "port", views.port(port, req.ctx.is_admin))


def create_port(req: ApiRequest):
    items, bulk = bodies(req, CREATE_PORT, "port", "ports")
    deps = req.deps

    def create(uow):
        ports, nets = [], {}  # a bulk's networks are read once
        for body in items:
            # authorized inside the one write transaction: the network is read once
            net = nets.get(body["network_id"]) or net_svc.get_network_record(uow, caller(req), body["network_id"])
            nets[net.id] = net
            target = {"project_id": body.get("project_id") or body.get("tenant_id") or req.ctx.project_id,
                      "network:project_id": net.project_id, "network:shared": net.shared}
            req.enforce("create_port", target)
            attribute_policies(req, "create_port", body, ATTRS, target)
            ports.append(svc.create_port(uow, caller(req), deps.limits, body, net=net))
        return ports

    # the rows are complete in memory after the commit: rendered without reading them back
    out = [views.port(p, req.ctx.is_admin) for p in deps.write(create)]
    return created(req, "port", "ports", out, bulk)


def update_port(req: ApiRequest):
    body = body_of(req, UPDATE_PORT, "port")
    deps = req.deps
    with deps.uow() as uow:
        target = _target(uow, svc.get_port(uow, caller(req), req.params["port_id"]))
    req.enforce("update_port", target)
    attribute_policies(req, "update_port", {k: True for k in body}, ATTRS, target)
    deps.write(lambda uow: svc.update_port(uow, caller(req), req.params["port_id"], body, if_match(req)))
    with deps.uow() as uow:
        return single(req, "port", views.port(svc.get_port(uow, caller(req), req.params["port_id"]),
                                              req.ctx.is_admin))


def delete_port(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("delete_port", _target(uow, svc.get_port(uow, caller(req), req.params["port_id"])))
    deps.write(lambda uow: svc.delete_port(uow, caller(req), req.params["port_id"], if_match(req)))
    return empty_response()
