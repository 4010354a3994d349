"""Routers (gateway, interfaces, extra routes) and floating IPs."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import in_use, invalid, not_found
from . import ipam
from .common import (
    DEVICE_OWNER_FLOATINGIP,
    DEVICE_OWNER_ROUTER_GW,
    DEVICE_OWNER_ROUTER_INTF,
    TOPIC_NETWORK,
    TOPIC_ROUTER,
    Caller,
    Limits,
    apply_tags,
    bump,
    check_quota,
    check_revision,
    visible,
)
from .networks import get_network, get_subnet, owner_of
from .ports import _disassociate, announce_addresses, create_port, delete_port_row, get_port

# -- routers ---------------------------------------------------------------------------------------


def list_routers(uow: UnitOfWork, caller: Caller) -> list[m.Router]:
    q = select(m.Router).where(visible(m.Router, caller))
    return list(uow.session.scalars(q.order_by(m.Router.created_at, m.Router.id)))


def get_router(uow: UnitOfWork, caller: Caller, router_id: str) -> m.Router:
    router = uow.session.get(m.Router, router_id)
    if router is None or not (caller.is_admin or router.project_id == caller.project_id):
        raise not_found("Router", router_id)
    return router


def interface_ports(uow: UnitOfWork, router_id: str) -> list[m.Port]:
    return list(uow.session.scalars(select(m.Port).where(
        m.Port.device_id == router_id, m.Port.device_owner == DEVICE_OWNER_ROUTER_INTF).order_by(m.Port.created_at)))


def gateway_port(uow: UnitOfWork, router: m.Router) -> m.Port | None:
    return uow.session.get(m.Port, router.gw_port_id) if router.gw_port_id else None


def _set_gateway(uow: UnitOfWork, caller: Caller, router: m.Router, info: dict | None, limits: Limits) -> None:
    old = gateway_port(uow, router)
    if not info or not info.get("network_id"):
        if old is not None:
            if uow.session.scalar(select(m.FloatingIP.id).where(m.FloatingIP.router_id == router.id).limit(1)):
                raise Conflict(f"Gateway cannot be updated for router {router.id}, since a gateway to external "
                               f"network {router.gw_network_id} is required by one or more floating IPs.",
                               type="RouterExternalGatewayInUseByFloatingIp")
            delete_port_row(uow, old)
        router.gw_port_id = router.gw_network_id = None
        router.enable_snat = True
        return
    net = get_network(uow, caller, info["network_id"])
    if not net.external:
        raise BadRequest(f"Bad router request: Network {net.id} is not an external network",
                         type="BadRequest")
    if "enable_snat" in info and info["enable_snat"] is not None:
        router.enable_snat = bool(info["enable_snat"])
    fixed = info.get("external_fixed_ips")
    if old is not None and old.network_id == net.id and not fixed:
        return
    if old is not None and old.network_id != net.id and uow.session.scalar(
            select(m.FloatingIP.id).where(m.FloatingIP.router_id == router.id).limit(1)):
        raise Conflict(f"Gateway cannot be updated for router {router.id}, since a gateway to external network "
                       f"{router.gw_network_id} is required by one or more floating IPs.",
                       type="RouterExternalGatewayInUseByFloatingIp")
    if old is not None:
        delete_port_row(uow, old)
        uow.session.flush()
    body = {"network_id": net.id, "device_owner": DEVICE_OWNER_ROUTER_GW, "device_id": router.id,
            "project_id": "", "admin_state_up": True}
    if fixed:
        body["fixed_ips"] = fixed
    port = create_port(uow, Caller("", True), limits, body, status="ACTIVE")
    _check_overlap(uow, router, [a.subnet_id for a in port.fixed_ips], exclude_gateway=True)
    router.gw_port_id = port.id
    router.gw_network_id = net.id


def create_router(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict) -> m.Router:
    project_id = owner_of(caller, body)
    check_quota(uow, limits, project_id, "router")
    router = m.Router(project_id=project_id, name=body.get("name") or "", description=body.get("description") or "",
                      admin_state_up=body.get("admin_state_up", True),
                      availability_zone_hints=body.get("availability_zone_hints") or [],
                      tags=sorted(set(body.get("tags") or [])))
    uow.session.add(router)
    uow.session.flush()
    if body.get("external_gateway_info"):
        _set_gateway(uow, caller, router, body["external_gateway_info"], limits)
    uow.emit(TOPIC_ROUTER, router.id)
    return router


def _router_cidrs(uow: UnitOfWork, router: m.Router) -> list:
    cidrs = []
    for port in interface_ports(uow, router.id):
        for alloc in port.fixed_ips:
            subnet = uow.session.get(m.Subnet, alloc.subnet_id)
            cidrs.append(ipaddress.ip_network(subnet.cidr))
    return cidrs


def _check_routes(uow: UnitOfWork, router: m.Router, routes: list[dict]) -> list[dict]:
    cidrs = _router_cidrs(uow, router)
    gw = gateway_port(uow, router)
    if gw is not None:
        for alloc in gw.fixed_ips:
            cidrs.append(ipaddress.ip_network(uow.session.get(m.Subnet, alloc.subnet_id).cidr))
    out = []
    for route in routes:
        try:
            dest = ipaddress.ip_network(route["destination"])
            hop = ipaddress.ip_address(route["nexthop"])
        except (KeyError, ValueError):
            raise BadRequest(f"Invalid format for routes: {routes}, the route {route} is invalid",
                             type="InvalidRoutes") from None
        if not any(hop in c for c in cidrs):
            raise BadRequest(f"Invalid format for routes: {routes}, the nexthop is not connected with router",
                             type="InvalidRoutes")
        out.append({"destination": str(dest), "nexthop": str(hop)})
    return out


def update_router(uow: UnitOfWork, caller: Caller, limits: Limits, router_id: str, body: dict, if_match=None
                  ) -> m.Router:
    router = get_router(uow, caller, router_id)
    check_revision(router, if_match)
    if "external_gateway_info" in body:
        _set_gateway(uow, caller, router, body["external_gateway_info"], limits)
    if "routes" in body:
        router.routes = _check_routes(uow, router, body["routes"] or [])
    for key in ("name", "description", "admin_state_up"):
        if key in body and body[key] is not None:
            setattr(router, key, body[key])
    apply_tags(router, body.get("tags"))
    bump(router)
    uow.emit(TOPIC_ROUTER, router.id)
    return router


def delete_router(uow: UnitOfWork, caller: Caller, router_id: str, if_match=None) -> None:
    router = get_router(uow, caller, router_id)
    check_revision(router, if_match)
    if interface_ports(uow, router.id):
        raise in_use(f"Router {router.id} still has ports", "RouterInUse")
    if uow.session.scalar(select(m.FloatingIP.id).where(m.FloatingIP.router_id == router.id).limit(1)):
        raise in_use(f"Router {router.id} still has floating IPs", "RouterInUse")
    gw = gateway_port(uow, router)
    if gw is not None:
        delete_port_row(uow, gw)
    uow.session.delete(router)
    uow.emit(TOPIC_ROUTER, router.id)


def _check_overlap(uow: UnitOfWork, router: m.Router, subnet_ids: list[str], exclude_gateway=False) -> None:
    if exclude_gateway:
        return
    existing = _router_cidrs(uow, router)
    for sid in subnet_ids:
        cidr = ipaddress.ip_network(uow.session.get(m.Subnet, sid).cidr)
        for other in existing:
            if cidr.overlaps(other):
                raise BadRequest(f"Bad router request: Cidr {cidr} of subnet {sid} overlaps with cidr {other} of "
                                 "another router interface.", type="BadRequest")


def add_interface(uow: UnitOfWork, caller: Caller, limits: Limits, router_id: str, body: dict) -> dict:
    router = get_router(uow, caller, router_id)
    if not body or ("subnet_id" in body) == ("port_id" in body):
        raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.", type="BadRequest")
    if body.get("port_id"):
        port = get_port(uow, caller, body["port_id"])
        if port.device_id or port.device_owner:
            raise Conflict(f"Unable to complete operation on port {port.id} for network {port.network_id}. Port "
                           f"already has an attached device {port.device_id}.", type="PortInUse")
        if not port.fixed_ips:
            raise BadRequest("Bad router request: Router port must have at least one fixed IP.", type="BadRequest")
        _check_overlap(uow, router, [a.subnet_id for a in port.fixed_ips])
        port.device_id, port.device_owner = router.id, DEVICE_OWNER_ROUTER_INTF
        port.sg_bindings[:] = []
        port.status = "ACTIVE"
        bump(port)
    else:
        subnet = get_subnet(uow, caller, body["subnet_id"])
        if not subnet.gateway_ip:
            raise BadRequest("Bad router request: Subnet for router interface must have a gateway IP.",
                             type="BadRequest")
        for existing in interface_ports(uow, router.id):
            if any(a.subnet_id == subnet.id for a in existing.fixed_ips):
                raise BadRequest(f"Bad router request: Router already has a port on subnet {subnet.id}.",
                                 type="BadRequest")
        _check_overlap(uow, router, [subnet.id])
        port = create_port(uow, Caller(router.project_id, True), limits, {
            "network_id": subnet.network_id, "device_owner": DEVICE_OWNER_ROUTER_INTF, "device_id": router.id,
            "fixed_ips": [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}], "project_id":
                router.project_id, "admin_state_up": True}, status="ACTIVE")
    bump(router)
    uow.session.flush()
    uow.emit(TOPIC_ROUTER, router.id)
    uow.emit(TOPIC_NETWORK, port.network_id)
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    return {"id": router.id, "tenant_id": router.project_id, "project_id": router.project_id, "port_id": port.id,
            "network_id": port.network_id, "subnet_id": subnet_ids[0] if subnet_ids else None,
            "subnet_ids": subnet_ids}


def remove_interface(uow: UnitOfWork, caller: Caller, router_id: str, body: dict) -> dict:
    router = get_router(uow, caller, router_id)
    if not body or not (body.get("subnet_id") or body.get("port_id")):
        raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.", type="BadRequest")
    ports = interface_ports(uow, router.id)
    port = None
    if body.get("port_id"):
        port = next((p for p in ports if p.id == body["port_id"]), None)
        if port is None:
            raise NotFound(f"Router {router.id} does not have an interface with id {body['port_id']}",
                           type="RouterInterfaceNotFound")
        if body.get("subnet_id") and not any(a.subnet_id == body["subnet_id"] for a in port.fixed_ips):
            raise Conflict(f"Subnet {body['subnet_id']} is not on port {port.id}", type="SubnetMismatchForPort")
    else:
        port = next((p for p in ports if any(a.subnet_id == body["subnet_id"] for a in p.fixed_ips)), None)
        if port is None:
            raise NotFound(f"Router {router.id} has no interface on subnet {body['subnet_id']}",
                           type="RouterInterfaceNotFoundForSubnet")
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    cidrs = [ipaddress.ip_network(uow.session.get(m.Subnet, s).cidr) for s in subnet_ids]
    for route in router.routes or []:
        if any(ipaddress.ip_address(route["nexthop"]) in c for c in cidrs):
            raise Conflict(f"Router interface for subnet {subnet_ids[0]} on router {router.id} cannot be deleted, "
                           "as it is required by one or more routes.", type="RouterInterfaceInUseByRoute")
    for fip in uow.session.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == router.id)):
        fixed_port = uow.session.get(m.Port, fip.port_id) if fip.port_id else None
        if fixed_port is not None and any(a.subnet_id in subnet_ids for a in fixed_port.fixed_ips):
            raise Conflict(f"Router interface for subnet {subnet_ids[0]} on router {router.id} cannot be deleted, "
                           f"as it is required by one or more floating IPs.",
                           type="RouterInterfaceInUseByFloatingIP")
    delete_port_row(uow, port)
    bump(router)
    uow.emit(TOPIC_ROUTER, router.id)
    return {"id": router.id, "tenant_id": router.project_id, "project_id": router.project_id, "port_id": port.id,
            "network_id": port.network_id, "subnet_id": subnet_ids[0] if subnet_ids else None,
            "subnet_ids": subnet_ids}


# -- floating IPs ----------------------------------------------------------------------------------

def list_floatingips(uow: UnitOfWork, caller: Caller) -> list[m.FloatingIP]:
    q = select(m.FloatingIP).where(visible(m.FloatingIP, caller))
    return list(uow.session.scalars(q.order_by(m.FloatingIP.created_at, m.FloatingIP.id)))


def get_floatingip(uow: UnitOfWork, caller: Caller, fip_id: str) -> m.FloatingIP:
    fip = uow.session.get(m.FloatingIP, fip_id)
    if fip is None or not (caller.is_admin or fip.project_id == caller.project_id):
        raise not_found("FloatingIP", fip_id)
    return fip


def _associate(uow: UnitOfWork, caller: Caller, fip: m.FloatingIP, port_id: str | None,
               fixed_ip: str | None) -> None:
    if not port_id:
        if fip.port_id:
            _disassociate(uow, fip)
        return
    port = get_port(uow, caller, port_id)
    if port.device_owner.startswith("network:"):
        raise BadRequest(f"Bad floatingip request: Port {port.id} has owner {port.device_owner} and therefore "
                         "cannot be associated with a floating IP.", type="BadRequest")
    v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip:
        chosen = next((a for a in v4 if a.ip_address == fixed_ip), None)
        if chosen is None:
            raise BadRequest(f"Bad floatingip request: Port {port.id} does not have fixed ip {fixed_ip}.",
                             type="BadRequest")
    else:
        if not v4:
            raise BadRequest(f"Bad floatingip request: Port {port.id} does not have any IPv4 address.",
                             type="BadRequest")
        if len(v4) > 1:
            raise BadRequest(f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 "
                             "address when assigning a floating IP", type="BadRequest")
        chosen = v4[0]
    taken = uow.session.scalar(select(m.FloatingIP.id).where(
        m.FloatingIP.port_id == port.id, m.FloatingIP.fixed_ip_address == chosen.ip_address,
        m.FloatingIP.id != fip.id))
    if taken:
        raise Conflict(f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port {port.id} "
                       f"using fixed IP {chosen.ip_address}, as that fixed IP already has a floating IP on external "
                       f"network {fip.floating_network_id}.", type="FloatingIPPortAlreadyAssociated")
    router_id = _router_for(uow, chosen.subnet_id, fip.floating_network_id)
    if router_id is None:
        subnet = uow.session.get(m.Subnet, chosen.subnet_id)
        raise NotFound(f"External network {fip.floating_network_id} is not reachable from subnet {subnet.id}.  "
                       f"Therefore, cannot associate Port {port.id} with a Floating IP.",
                       type="ExternalGatewayForFloatingIPNotFound")
    if fip.router_id and fip.router_id != router_id:
        uow.emit(TOPIC_ROUTER, fip.router_id)
    if fip.port_id and fip.port_id != port.id:
        announce_addresses(uow, uow.session.get(m.Port, fip.port_id))
    fip.port_id, fip.fixed_ip_address, fip.router_id = port.id, chosen.ip_address, router_id
    uow.emit(TOPIC_ROUTER, router_id)
    announce_addresses(uow, port)


def _router_for(uow: UnitOfWork, subnet_id: str, external_network_id: str) -> str | None:
    q = select(m.Port.device_id).join(m.IPAllocation, m.IPAllocation.port_id == m.Port.id).where(
        m.IPAllocation.subnet_id == subnet_id, m.Port.device_owner == DEVICE_OWNER_ROUTER_INTF)
    for router_id in uow.session.scalars(q):
        router = uow.session.get(m.Router, router_id)
        if router is not None and router.gw_network_id == external_network_id:
            return router.id
    return None


def create_floatingip(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict) -> m.FloatingIP:
    project_id = owner_of(caller, body)
    net = get_network(uow, caller, body["floating_network_id"])
    if not net.external:
        raise BadRequest(f"Bad floatingip request: Network {net.id} is not a valid external network.",
                         type="BadRequest")
    check_quota(uow, limits, project_id, "floatingip")
    fip = m.FloatingIP(project_id=project_id, floating_network_id=net.id, floating_port_id="",
                       floating_ip_address="", description=body.get("description") or "",
                       tags=sorted(set(body.get("tags") or [])))
    uow.session.add(fip)
    uow.session.flush()
    port_body: dict = {"network_id": net.id, "device_owner": DEVICE_OWNER_FLOATINGIP, "device_id": fip.id,
                       "project_id": ""}
    wanted_ip, wanted_subnet = body.get("floating_ip_address"), body.get("subnet_id")
    if wanted_subnet and wanted_subnet not in {s.id for s in net.subnets}:
        raise BadRequest(f"Bad floatingip request: Subnet {wanted_subnet} is not on network {net.id}",
                         type="BadRequest")
    if wanted_ip or wanted_subnet:
        entry = {}
        if wanted_ip:
            entry["ip_address"] = wanted_ip
        if wanted_subnet:
            entry["subnet_id"] = wanted_subnet
        port_body["fixed_ips"] = [entry]
    else:
        v4 = [s for s in net.subnets if s.ip_version == 4]
        if not v4:
            raise BadRequest(f"Bad floatingip request: Network {net.id} does not contain any IPv4 subnet",
                             type="BadRequest")
        port_body["fixed_ips"] = None
    port = create_port(uow, Caller("", True), limits, port_body, status="N/A")
    ips = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
    if not ips:
        raise Conflict(f"No more IP addresses available on network {net.id}.", type="IpAddressGenerationFailure")
    fip.floating_port_id, fip.floating_ip_address = port.id, ips[0].ip_address
    _associate(uow, caller, fip, body.get("port_id"), body.get("fixed_ip_address"))
    return fip


def update_floatingip(uow: UnitOfWork, caller: Caller, fip_id: str, body: dict, if_match=None) -> m.FloatingIP:
    fip = get_floatingip(uow, caller, fip_id)
    check_revision(fip, if_match)
    if "port_id" in body:
        _associate(uow, caller, fip, body["port_id"], body.get("fixed_ip_address"))
        if not body["port_id"]:
            fip.status = "DOWN"
    if "description" in body and body["description"] is not None:
        fip.description = body["description"]
    apply_tags(fip, body.get("tags"))
    bump(fip)
    return fip


def delete_floatingip(uow: UnitOfWork, caller: Caller, fip_id: str, if_match=None) -> None:
    fip = get_floatingip(uow, caller, fip_id)
    check_revision(fip, if_match)
    if fip.router_id:
        uow.emit(TOPIC_ROUTER, fip.router_id)
    if fip.port_id:
        announce_addresses(uow, uow.session.get(m.Port, fip.port_id))
    port = uow.session.get(m.Port, fip.floating_port_id)
    if port is not None:
        delete_port_row(uow, port)
    uow.session.delete(fip)


def pool_size_of(subnet: m.Subnet) -> int:
    return ipam.pool_size(subnet)


__all__ = ["invalid"]
