"""``/servers/{id}/os-interface``: list, show, attach (create) and detach (delete) port interfaces.

Attach binds (``port_id``) or creates (``net_id``, optional fixed IP; neither: the project's only
network) the port through the network service, records the request and waits, as Nova's synchronous
attach does, until the host agent has plugged it into the guest: the answer is the attached interface,
or the failure (the agent has then given the port back: deleted if made here, else unbound).  Detach
answers 202 at once; the agent unplugs the port and deletes or unbinds it.
"""

from __future__ import annotations

import ipaddress
import time

from onestack.core.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..model import VirtualInterface
from ..schemas import interfaces as schemas
from ..service import interfaces as svc
from ..views import interfaces as views
from .common import body_of, by_version
from .servers import authorized_server, caller

RULE = "os_compute_api:os-attach-interfaces"
WAIT_GRACE = 10.0  # seconds past vif_plugging_timeout for an agent busy with the attach to record its outcome


class AttachFailed(ApiError):
    status = 500
    type = "InterfaceAttachFailed"


def _network(req: ApiRequest):
    client = req.deps.network
    if client is None:
        raise BadRequest("Networking is not available in this cloud.")
    return client


def _server(req: ApiRequest, uow, rule: str, lock: bool = False):
    return authorized_server(req, uow, f"{RULE}:{rule}", lock=lock)


def _as_compute_error(exc: ApiError) -> ApiError:
    """The network service's refusal in compute's terms (Nova maps Neutron's errors the same way)."""
    if exc.status == 404:
        return NotFound(exc.message)
    if exc.status == 409 and exc.type in ("PortInUse", "IpAddressAlreadyAllocated", "IpAddressInUse"):
        return Conflict(exc.message)
    if exc.status == 403:
        return Forbidden(exc.message)
    return BadRequest(exc.message)  # NoMoreFixedIps, NetworkAmbiguous, an address outside the subnets...


def list_interfaces(req: ApiRequest):
    with req.deps.uow() as uow:
        server = _server(req, uow, "list")
        tags = svc.tags(uow, server.id)
        server_id = server.id
    ports = _network(req).ports_for_server(server_id)
    return json_response({"interfaceAttachments": [views.interface(p, tags.get(p["id"]), req.version)
                                                   for p in ports]})


def show_interface(req: ApiRequest):
    port_id = req.params["port_id"]
    with req.deps.uow() as uow:
        server = _server(req, uow, "show")
        tags = svc.tags(uow, server.id)
        server_id = server.id
    port = next((p for p in _network(req).ports_for_server(server_id) if p["id"] == port_id), None)
    if port is None:
        raise NotFound(f"Instance {server_id} does not have a port with id {port_id}")
    return json_response({"interfaceAttachment": views.interface(port, tags.get(port_id), req.version)})


def create_interface(req: ApiRequest):
    schema = by_version(req, ("2.1", schemas.CREATE), ("2.49", schemas.CREATE_V2_49))
    body = body_of(req, schema).get("interfaceAttachment") or {}
    net_id, port_id, fixed_ips = body.get("net_id"), body.get("port_id"), body.get("fixed_ips")
    if net_id and port_id:
        raise BadRequest("Must not input both network_id and port_id")
    if fixed_ips and not net_id:
        raise BadRequest("Must input network_id when request IP address")
    requested: dict = {"port": port_id} if port_id else {"uuid": net_id} if net_id else {}
    if fixed_ips:
        address = fixed_ips[0]["ip_address"]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise BadRequest(f"Invalid input for field/attribute ip_address. Value: {address}. "
                             f"'{address}' is not a valid IP address") from None
        requested["fixed_ip"] = address
    who = caller(req)
    with req.deps.uow() as uow:
        server = _server(req, uow, "create")
        svc.check_interface_action(server, "attach_interface", who.admin)
        server_id, host, zone = server.id, server.host or "", server.availability_zone or "nova"
    network = _network(req)
    try:
        port = network.allocate_port_for_server(req.ctx, server_id, host, requested, zone)
    except ApiError as exc:
        if not requested and exc.status == 404:  # Nova's InterfaceAttachFailedNoNetwork
            raise BadRequest(f"No specific network was requested and none are available for project "
                             f"'{who.project_id}'.") from None
        raise _as_compute_error(exc) from None
    try:
        with req.deps.uow(write=True) as uow:
            server = _server(req, uow, "create", lock=True)
            vif_id = svc.request_attach(uow, server, port["id"], body.get("tag"), who).id
    except Exception:
        network.release_port(server_id, port["id"])
        raise
    _wait_attached(req, vif_id, server_id, port["id"])
    port = next((p for p in network.ports_for_server(server_id) if p["id"] == port["id"]), port)
    return json_response({"interfaceAttachment": views.interface(port, body.get("tag"), req.version)})


def _wait_attached(req: ApiRequest, vif_id: str, server_id: str, port_id: str) -> None:
    """Until the host agent has plugged the port (or failed, and given the port back), for at most
    [compute] vif_plugging_timeout from the request (the budget the agent's own wait for the port to become
    ACTIVE comes out of), plus a short grace for an agent busy with it to record its outcome.  Past that,
    the request is withdrawn (no agent took it: the port is given back at once) or turned into a detach
    (the agent undoes what it plugged), and the answer is Nova's InterfaceAttachFailed."""
    timeout = float(req.deps.settings.compute.vif_plugging_timeout)
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        with req.deps.uow() as uow:
            row = uow.session.get(VirtualInterface, vif_id)
            status, fault = (row.status, dict(row.fault or {})) if row is not None else (svc.FAILED, {})
        if status == svc.ATTACHED:
            return
        if status == svc.FAILED:
            if row is not None:
                with req.deps.uow(write=True) as uow:
                    gone = uow.session.get(VirtualInterface, vif_id)
                    if gone is not None:
                        uow.session.delete(gone)
            if fault.get("code") == 400:
                raise BadRequest(fault.get("message") or "Attaching interfaces is not supported for this instance.")
            raise AttachFailed(f"Failed to attach network adapter device to {server_id}")
        now = time.monotonic()
        if now > deadline + (WAIT_GRACE if status == svc.PLUGGING else 0.0):
            with req.deps.uow(write=True) as uow:
                was = svc.cancel_attach(uow, vif_id)
            if was in (svc.ATTACHED, svc.FAILED):  # the outcome arrived just now
                continue
            if was == svc.ATTACHING:
                req.deps.network.release_port(server_id, port_id)
            raise AttachFailed(f"Failed to attach network adapter device to {server_id}: the compute host did "
                               f"not finish the attach within {timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def delete_interface(req: ApiRequest):
    port_id = req.params["port_id"]
    who = caller(req)
    with req.deps.uow() as uow:
        server = _server(req, uow, "delete")
        svc.check_interface_action(server, "detach_interface", who.admin)
        server_id = server.id
    if not any(p["id"] == port_id for p in _network(req).ports_for_server(server_id)):
        raise NotFound(f"Port {port_id} is not attached")
    with req.deps.uow(write=True) as uow:
        server = _server(req, uow, "delete", lock=True)
        svc.request_detach(uow, server, port_id, who)
    return empty_response(202)
