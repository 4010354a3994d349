"""Port interfaces (``os-interface``): the attach and detach requests the host agent carries out.

The API binds or creates the port through the network service first (so its errors come back at once),
then records a ``VirtualInterface`` row (``attaching``) and wakes the host agent, which hot-plugs the
port into the guest; detach marks the row ``detaching`` (a port given at boot gets its row then) and
the agent unplugs it and gives the port back.  Allowed as Nova allows it: active, paused or stopped
servers with no task in flight, not locked.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWork

from .. import states
from ..model import Instance, VirtualInterface
from .common import INSTANCE, NETWORK_CHANGED
from .servers import Caller, add_event, record_action

ATTACHING, PLUGGING, ATTACHED, DETACHING, FAILED = "attaching", "plugging", "attached", "detaching", "failed"
IN_FLIGHT = (ATTACHING, PLUGGING, DETACHING)
INTERFACE_STATES = (states.ACTIVE, states.PAUSED, states.STOPPED)


def check_interface_action(instance: Instance, method: str, admin: bool) -> None:
    if instance.locked and not admin:
        raise Conflict(f"Instance {instance.id} is locked")
    if instance.vm_state not in INTERFACE_STATES:
        raise Conflict(f"Cannot '{method}' instance {instance.id} while it is in vm_state {instance.vm_state}")
    if instance.task_state is not None:
        raise Conflict(f"Cannot '{method}' instance {instance.id} while it is in task_state {instance.task_state}")


def interfaces(uow: UnitOfWork, instance_id: str) -> list[VirtualInterface]:
    return list(uow.session.scalars(select(VirtualInterface).where(VirtualInterface.instance_id == instance_id)
                                    .order_by(VirtualInterface.created_at, VirtualInterface.id)))


def tags(uow: UnitOfWork, instance_id: str) -> dict[str, str | None]:
    """port id -> the tag it was attached with."""
    return {row.port_id: row.tag for row in interfaces(uow, instance_id) if row.status != FAILED}


def boot_port_tags(requested, ports: list[dict]) -> dict[str, str]:
    """port id -> the ``tag`` its ``networks`` entry gave at boot (2.32, 2.42+): a ``port`` entry names its
    port; ``uuid`` entries take, in request order, the ports made on that network (oldest first, as they
    were made in that order)."""
    if not isinstance(requested, list) or not any(item.get("tag") for item in requested):
        return {}
    named = {item["port"] for item in requested if item.get("port")}
    made: dict[str, list[str]] = {}
    for port in ports:
        if port["id"] not in named:
            made.setdefault(port.get("network_id") or "", []).append(port["id"])
    out: dict[str, str] = {}
    for item in requested:
        if item.get("port"):
            port_id = item["port"]
        else:
            queue = made.get(item.get("uuid") or "") or []
            port_id = queue.pop(0) if queue else None
        if port_id and item.get("tag"):
            out[port_id] = item["tag"]
    return out


def record_boot_tags(uow: UnitOfWork, instance_id: str, port_tags: dict[str, str]) -> None:
    """The tagged boot ports get their virtual interface row (attached) now, so the tag is kept with them."""
    if not port_tags:
        return
    have = {row.port_id for row in interfaces(uow, instance_id)}
    for port_id, tag in port_tags.items():
        if port_id not in have:
            uow.session.add(VirtualInterface(instance_id=instance_id, port_id=port_id, tag=tag, status=ATTACHED))


def request_attach(uow: UnitOfWork, instance: Instance, port_id: str, tag: str | None,
                   caller: Caller) -> VirtualInterface:
    check_interface_action(instance, "attach_interface", caller.admin)
    uow.session.execute(delete(VirtualInterface).where(VirtualInterface.instance_id == instance.id,
                                                       VirtualInterface.port_id == port_id))
    row = VirtualInterface(instance_id=instance.id, port_id=port_id, tag=tag, status=ATTACHING,
                           request_id=caller.request_id or "")
    uow.session.add(row)
    record_action(uow, instance, "attach_interface", caller)
    uow.emit(INSTANCE, instance.id)
    uow.session.flush()
    return row


def request_detach(uow: UnitOfWork, instance: Instance, port_id: str, caller: Caller) -> VirtualInterface:
    check_interface_action(instance, "detach_interface", caller.admin)
    row = uow.session.scalars(select(VirtualInterface).where(VirtualInterface.instance_id == instance.id,
                                                             VirtualInterface.port_id == port_id)).first()
    if row is not None and row.status in IN_FLIGHT:
        raise Conflict(f"Port {port_id} of instance {instance.id} is still being {row.status[:-3]}ed.")
    if row is None:  # a port the server got at boot
        row = VirtualInterface(instance_id=instance.id, port_id=port_id)
        uow.session.add(row)
    row.status = DETACHING
    row.fault = None
    row.request_id = caller.request_id or ""
    record_action(uow, instance, "detach_interface", caller)
    uow.emit(INSTANCE, instance.id)
    return row


def claim_attach(uow: UnitOfWork, vif_id: str) -> VirtualInterface | None:
    """The host agent takes an attach request (``attaching`` -> ``plugging``; a ``plugging`` one again after
    a restart); None when the request is gone or was cancelled by the API request that gave up on it."""
    row = uow.session.get(VirtualInterface, vif_id, with_for_update=True)
    if row is None or row.status not in (ATTACHING, PLUGGING):
        return None
    row.status = PLUGGING
    return row


def cancel_attach(uow: UnitOfWork, vif_id: str) -> str | None:
    """The waiting API request gives up (the host did not answer in time).  A request no agent has taken
    is withdrawn (row deleted: the caller gives the port back); one being plugged becomes a detach the
    agent carries out (it unplugs the device and gives the port back).  Returns the status the request
    had (None: gone; ``attached``/``failed``: the outcome arrived just now, nothing changed)."""
    row = uow.session.get(VirtualInterface, vif_id, with_for_update=True)
    if row is None:
        return None
    status = row.status
    if status == ATTACHING:
        uow.session.delete(row)
    elif status == PLUGGING:
        row.status = DETACHING
        row.fault = {"code": 500, "message": "the attach request timed out"}
        uow.emit(INSTANCE, row.instance_id)
    return status


def record_fixed_ip_change(uow: UnitOfWork, instance: Instance, action: str, caller: Caller, ok: bool,
                           details: str | None = None) -> None:
    """addFixedIp/removeFixedIp done (or refused) by the network service: the instance action with its
    event, and the host agent refreshes the server's addresses."""
    record_action(uow, instance, action, caller, finished=True)
    event = "compute_add_fixed_ip_to_instance" if action == "addFixedIp" else "compute_remove_fixed_ip_from_instance"
    add_event(uow, instance.id, event, instance.host, ok, details, action_name=action)
    if ok:
        uow.emit(NETWORK_CHANGED, instance.id)


def pending_instances(uow: UnitOfWork, hosts: list[str]) -> list[str]:
    """Servers on ``hosts`` with interface requests the agent has to carry out."""
    query = (select(VirtualInterface.instance_id).join(Instance, Instance.id == VirtualInterface.instance_id)
             .where(VirtualInterface.status.in_(IN_FLIGHT), Instance.host.in_(hosts),
                    Instance.deleted.is_(False)).distinct())
    return list(uow.session.scalars(query))
