from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response

from ..schemas.networks import (
    CREATE_NETWORK,
    CREATE_SUBNET,
    CREATE_SUBNETPOOL,
    UPDATE_NETWORK,
    UPDATE_SUBNET,
    UPDATE_SUBNETPOOL,
)
from ..service import networks as svc
from ..views import networks as views
from .common import attribute_policies, bodies, body_of, caller, collection, created, if_match, single

PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


def _target(net) -> dict:
    return {"project_id": net.project_id, "tenant_id": net.project_id, "shared": net.shared,
            "router:external": net.external}


def list_networks(req: ApiRequest):
    req.enforce("get_network", {"project_id": req.ctx.project_id})
    admin = req.ctx.is_admin
    with req.deps.uow() as uow:
        items = [views.network(n, admin) for n in svc.list_networks(uow, caller(req))]
    return collection(req, "networks", items)


def show_network(req: ApiRequest):
    with req.deps.uow() as uow:
        net = svc.get_network(uow, caller(req), req.params["network_id"])
        req.enforce("get_network", _target(net))
        return single(req, "network", views.network(net, req.ctx.is_admin))


def create_network(req: ApiRequest):
    items, bulk = bodies(req, CREATE_NETWORK, "network", "networks")
    for body in items:
        target = {"project_id": body.get("project_id") or body.get("tenant_id") or req.ctx.project_id}
        req.enforce("create_network", target)
        attribute_policies(req, "create_network", body, ("shared", "router:external", "is_default", *PROVIDER),
                           target)
    deps = req.deps
    nets = deps.write(lambda uow: [svc.create_network(uow, caller(req), deps.limits, deps.config, b)
                                   for b in items])
    # complete in memory after the commit (a new network has no subnets): no read back
    out = [views.network(n, req.ctx.is_admin) for n in nets]
    return created(req, "network", "networks", out, bulk)


def update_network(req: ApiRequest):
    body = body_of(req, UPDATE_NETWORK, "network")
    deps = req.deps
    with deps.uow() as uow:
        target = _target(svc.get_network(uow, caller(req), req.params["network_id"]))
    req.enforce("update_network", target)
    attribute_policies(req, "update_network", {k: True for k in body}, ("shared", "router:external", *PROVIDER),
                       target)
    net = deps.write(lambda uow: svc.update_network(uow, caller(req), req.params["network_id"], body, if_match(req),
                                                    deps.config))
    with deps.uow() as uow:
        return single(req, "network", views.network(svc.get_network(uow, caller(req), net.id), req.ctx.is_admin))


def delete_network(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        target = _target(svc.get_network(uow, caller(req), req.params["network_id"]))
    req.enforce("delete_network", target)
    deps.write(lambda uow: svc.delete_network(uow, caller(req), req.params["network_id"], if_match(req)))
    return empty_response()


# -- subnets ---------------------------------------------------------------------------------------

def _subnet_target(s) -> dict:
    return {"project_id": s.project_id, "tenant_id": s.project_id, "network:project_id": s.network.project_id,
            "network:shared": s.network.shared, "network:router:external": s.network.external}


def list_subnets(req: ApiRequest):
    with req.deps.uow() as uow:
        items = [views.subnet(s) for s in svc.list_subnets(uow, caller(req))]
    return collection(req, "subnets", items)


def show_subnet(req: ApiRequest):
    with req.deps.uow() as uow:
        subnet = svc.get_subnet(uow, caller(req), req.params["subnet_id"])
        req.enforce("get_subnet", _subnet_target(subnet))
        return single(req, "subnet", views.subnet(subnet))


def create_subnet(req: ApiRequest):
    items, bulk = bodies(req, CREATE_SUBNET, "subnet", "subnets")
    deps = req.deps
    with deps.uow() as uow:
        for body in items:
            net = svc.get_network(uow, caller(req), body["network_id"])
            req.enforce("create_subnet", {"project_id": req.ctx.project_id, "network:project_id": net.project_id})
    ids = deps.write(lambda uow: [svc.create_subnet(uow, caller(req), deps.limits, b).id for b in items])
    with deps.uow() as uow:
        out = [views.subnet(svc.get_subnet(uow, caller(req), i)) for i in ids]
    return created(req, "subnet", "subnets", out, bulk)


def update_subnet(req: ApiRequest):
    body = body_of(req, UPDATE_SUBNET, "subnet")
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("update_subnet", _subnet_target(svc.get_subnet(uow, caller(req), req.params["subnet_id"])))
    subnet = deps.write(lambda uow: svc.update_subnet(uow, caller(req), req.params["subnet_id"], body, if_match(req)))
    with deps.uow() as uow:
        return single(req, "subnet", views.subnet(svc.get_subnet(uow, caller(req), subnet.id)))


def delete_subnet(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("delete_subnet", _subnet_target(svc.get_subnet(uow, caller(req), req.params["subnet_id"])))
    deps.write(lambda uow: svc.delete_subnet(uow, caller(req), req.params["subnet_id"], if_match(req)))
    return empty_response()


# -- subnet pools ----------------------------------------------------------------------------------

def _pool_target(p) -> dict:
    return {"project_id": p.project_id, "tenant_id": p.project_id, "shared": p.shared}


def list_subnetpools(req: ApiRequest):
    with req.deps.uow() as uow:
        items = [views.subnetpool(p) for p in svc.list_subnetpools(uow, caller(req))]
    return collection(req, "subnetpools", items)


def show_subnetpool(req: ApiRequest):
    with req.deps.uow() as uow:
        pool = svc.get_subnetpool(uow, caller(req), req.params["subnetpool_id"])
        req.enforce("get_subnetpool", _pool_target(pool))
        return single(req, "subnetpool", views.subnetpool(pool))


def create_subnetpool(req: ApiRequest):
    body = body_of(req, CREATE_SUBNETPOOL, "subnetpool")
    target = {"project_id": req.ctx.project_id}
    req.enforce("create_subnetpool", target)
    attribute_policies(req, "create_subnetpool", body, ("shared", "is_default"), target)
    deps = req.deps
    pool = deps.write(lambda uow: svc.create_subnetpool(uow, caller(req), deps.limits, body))
    return single(req, "subnetpool", views.subnetpool(pool), 201)


def update_subnetpool(req: ApiRequest):
    body = body_of(req, UPDATE_SUBNETPOOL, "subnetpool")
    deps = req.deps
    with deps.uow() as uow:
        target = _pool_target(svc.get_subnetpool(uow, caller(req), req.params["subnetpool_id"]))
    req.enforce("update_subnetpool", target)
    attribute_policies(req, "update_subnetpool", body, ("is_default",), target)
    pool = deps.write(lambda uow: svc.update_subnetpool(uow, caller(req), req.params["subnetpool_id"], body,
                                                        if_match(req)))
    return single(req, "subnetpool", views.subnetpool(pool))


def delete_subnetpool(req: ApiRequest):
    deps = req.deps
    with deps.uow() as uow:
        req.enforce("delete_subnetpool", _pool_target(svc.get_subnetpool(uow, caller(req),
                                                                          req.params["subnetpool_id"])))
    deps.write(lambda uow: svc.delete_subnetpool(uow, caller(req), req.params["subnetpool_id"], if_match(req)))
    return empty_response()
