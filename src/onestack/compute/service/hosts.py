"""Compute hosts: services (os-services), nodes (os-hypervisors) and availability zones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..model import Aggregate, ComputeNode, Instance, Service

SERVICE_DOWN_TIME = 60  # nova [DEFAULT] service_down_time (seconds)
INTERNAL_ZONE = "internal"


@dataclass(frozen=True)
class HostReport:
    host: str
    node: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str = "fake"
    hypervisor_version: int = 1000
    host_ip: str = "127.0.0.1"


def register_host(uow: UnitOfWork, report: HostReport, binary: str = "nova-compute") -> ComputeNode:
    """Idempotent: the host's nova-compute service and its compute node, marked alive now."""
    now = utcnow()
    service = uow.session.scalars(select(Service).where(Service.host == report.host,
                                                        Service.binary == binary)).first()
    if service is None:
        service = Service(host=report.host, binary=binary, topic="compute")
        uow.session.add(service)
    service.last_seen_up = now
    service.updated_at = now
    node = uow.session.scalars(select(ComputeNode).where(
        ComputeNode.hypervisor_hostname == report.node)).first()
    if node is None:
        node = ComputeNode(host=report.host, hypervisor_hostname=report.node)
        uow.session.add(node)
    node.vcpus, node.memory_mb, node.local_gb = report.vcpus, report.memory_mb, report.disk_gb
    node.hypervisor_type, node.hypervisor_version = report.hypervisor_type, report.hypervisor_version
    node.host_ip = report.host_ip
    node.updated_at = now
    uow.session.flush()
    return node


def heartbeat(uow: UnitOfWork, hosts: list[str], binary: str = "nova-compute") -> None:
    now = utcnow()
    for service in uow.session.scalars(select(Service).where(Service.host.in_(hosts), Service.binary == binary)):
        service.last_seen_up = now
        service.updated_at = now


def is_up(service: Service, now: dt.datetime | None = None) -> bool:
    if service.forced_down:
        return False
    now = now or utcnow()
    seen = service.last_seen_up or service.updated_at or service.created_at
    return seen is not None and (now - seen).total_seconds() <= SERVICE_DOWN_TIME


def host_zones(uow: UnitOfWork, default_zone: str) -> dict[str, str]:
    """host -> availability zone: from aggregates' ``availability_zone`` metadata, else the default."""
    zones: dict[str, str] = {}
    for service in uow.session.scalars(select(Service).where(Service.binary == "nova-compute")):
        zones[service.host] = default_zone
    for agg in uow.session.scalars(select(Aggregate)):
        zone = (agg.metadata_ or {}).get("availability_zone")
        if zone:
            for host in agg.hosts or ():
                zones[host] = zone
    return zones


def zone_of(uow: UnitOfWork, host: str, default_zone: str) -> str:
    for agg in uow.session.scalars(select(Aggregate)):
        zone = (agg.metadata_ or {}).get("availability_zone")
        if zone and host in (agg.hosts or ()):
            return zone
    return default_zone


def list_zones(uow: UnitOfWork, default_zone: str) -> dict[str, list[Service]]:
    """zone -> its compute services (the internal zone holds non-compute services)."""
    zones = host_zones(uow, default_zone)
    out: dict[str, list[Service]] = {}
    for service in uow.session.scalars(select(Service).order_by(Service.host)):
        zone = zones.get(service.host, default_zone) if service.binary == "nova-compute" else INTERNAL_ZONE
        out.setdefault(zone, []).append(service)
    return out


# -- os-services ----------------------------------------------------------------------------------


def list_services(uow: UnitOfWork, host: str | None = None, binary: str | None = None) -> list[Service]:
    query = select(Service).order_by(Service.host, Service.binary)
    if host:
        query = query.where(Service.host == host)
    if binary:
        query = query.where(Service.binary == binary)
    return list(uow.session.scalars(query))


def get_service(uow: UnitOfWork, service_id: str) -> Service:
    row = uow.session.get(Service, service_id)
    if row is None:
        raise NotFound(f"Service {service_id} could not be found.")
    return row


def find_service(uow: UnitOfWork, host: str, binary: str) -> Service:
    row = uow.session.scalars(select(Service).where(Service.host == host, Service.binary == binary)).first()
    if row is None:
        raise NotFound(f"Service {binary} on host {host} could not be found.")
    return row


def update_service(uow: UnitOfWork, service: Service, changes: dict) -> Service:
    if "status" in changes:
        if changes["status"] not in ("enabled", "disabled"):
            raise BadRequest("Invalid status: expected enabled or disabled")
        service.disabled = changes["status"] == "disabled"
        service.disabled_reason = changes.get("disabled_reason") if service.disabled else None
    elif "disabled_reason" in changes:
        if not service.disabled:
            raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
        service.disabled_reason = changes["disabled_reason"]
    if "forced_down" in changes:
        service.forced_down = bool(changes["forced_down"])
    service.updated_at = utcnow()
    return service


def delete_service(uow: UnitOfWork, service: Service) -> None:
    if service.binary == "nova-compute":
        busy = uow.session.scalars(select(Instance.id).where(Instance.host == service.host,
                                                             Instance.deleted.is_(False))).first()
        if busy:
            raise Conflict(f"Unable to delete compute service that is hosting instances: {service.host}")
        for node in uow.session.scalars(select(ComputeNode).where(ComputeNode.host == service.host)):
            uow.session.delete(node)
    uow.session.delete(service)


# -- os-hypervisors -------------------------------------------------------------------------------


def list_nodes(uow: UnitOfWork, pattern: str | None = None) -> list[ComputeNode]:
    query = select(ComputeNode).order_by(ComputeNode.hypervisor_hostname)
    if pattern:
        query = query.where(ComputeNode.hypervisor_hostname.contains(pattern))
    return list(uow.session.scalars(query))


def get_node(uow: UnitOfWork, node_id: str) -> ComputeNode:
    row = uow.session.get(ComputeNode, node_id)
    if row is None:
        raise NotFound(f"Hypervisor with ID '{node_id}' could not be found.")
    return row


def services_by_host(uow: UnitOfWork) -> dict[str, Service]:
    return {s.host: s for s in uow.session.scalars(select(Service).where(Service.binary == "nova-compute"))}


_LIVENESS = select(Service.host, Service.disabled, Service.forced_down, Service.last_seen_up, Service.updated_at,
                   Service.created_at).where(Service.binary == "nova-compute")


def host_statuses(uow: UnitOfWork) -> dict[str, str]:
    """host -> its ``host_status`` (UP, DOWN, MAINTENANCE) as servers show it from 2.16 (one column
    statement, each host judged once, not once per server)."""
    now = utcnow()
    out = {}
    for s in uow.session.connection().execute(_LIVENESS):
        if s.forced_down or not is_up(s, now):
            out[s.host] = "DOWN"
        else:
            out[s.host] = "MAINTENANCE" if s.disabled else "UP"
    return out
