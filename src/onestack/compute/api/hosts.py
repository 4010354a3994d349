"""os-hypervisors and os-services."""

from __future__ import annotations

import contextlib
import json

from sqlalchemy import func, select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..model import Instance
from ..schemas import admin as schemas
from ..service import hosts as svc
from ..views.common import isotime_us
from .common import body_of


def _usage(uow) -> dict[str, dict]:
    out: dict[str, dict] = {}
    rows = uow.session.execute(select(Instance.node, func.count(Instance.id), func.sum(Instance.vcpus),
                                      func.sum(Instance.memory_mb)).where(
        Instance.deleted.is_(False), Instance.node.is_not(None)).group_by(Instance.node))
    for node, count, vcpus, ram in rows:
        out[node] = {"running_vms": int(count), "vcpus_used": int(vcpus or 0), "memory_mb_used": int(ram or 0)}
    disks = uow.session.execute(select(Instance.node, Instance.flavor).where(
        Instance.deleted.is_(False), Instance.node.is_not(None)))
    for node, flavor in disks:
        entry = out.setdefault(node, {"running_vms": 0, "vcpus_used": 0, "memory_mb_used": 0})
        entry["local_gb_used"] = entry.get("local_gb_used", 0) + int((flavor or {}).get("disk", 0)) + int(
            (flavor or {}).get("ephemeral", 0))
    return out


def _hypervisor(node, service, usage: dict, v, detail: bool, servers: list | None = None) -> dict:
    up = service is not None and svc.is_up(service)
    body: dict = {"id": node.id, "hypervisor_hostname": node.hypervisor_hostname,
                  "state": "up" if up else "down",
                  "status": "disabled" if service is not None and service.disabled else "enabled"}
    if servers is not None:
        body["servers"] = servers
    if not detail:
        return body
    used = usage.get(node.hypervisor_hostname, {})
    body.update({"host_ip": node.host_ip, "hypervisor_type": node.hypervisor_type,
                 "hypervisor_version": node.hypervisor_version,
                 "service": {"host": node.host, "id": service.id if service else None,
                             "disabled_reason": service.disabled_reason if service else None}})
    if v.matches("2.88"):
        body["uptime"] = None
        return body
    ram_used = used.get("memory_mb_used", 0) + 512
    disk_used = used.get("local_gb_used", 0)
    body.update({
        "cpu_info": dict(node.cpu_info or {}) if v.matches("2.28") else json.dumps(node.cpu_info or {}),
        "current_workload": 0, "disk_available_least": node.local_gb - disk_used,
        "free_disk_gb": node.local_gb - disk_used, "free_ram_mb": node.memory_mb - ram_used,
        "local_gb": node.local_gb, "local_gb_used": disk_used, "memory_mb": node.memory_mb,
        "memory_mb_used": ram_used, "running_vms": used.get("running_vms", 0), "vcpus": node.vcpus,
        "vcpus_used": used.get("vcpus_used", 0)})
    return body


def _list(req: ApiRequest, detail: bool):
    req.enforce("os_compute_api:os-hypervisors:list-detail" if detail else "os_compute_api:os-hypervisors:list")
    pattern = req.query.get("hypervisor_hostname_pattern") if req.version.matches("2.53") else None
    with_servers = req.version.matches("2.53") and req.query.get("with_servers", "").lower() in ("true", "1", "yes")
    with req.deps.uow() as uow:
        nodes = svc.list_nodes(uow, pattern)
        if pattern and not nodes:
            raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
        services = svc.services_by_host(uow)
        usage = _usage(uow) if detail else {}
        limit = None
        if req.version.matches("2.33") and "limit" in req.query:
            try:
                limit = int(req.query["limit"])
            except ValueError:
                raise BadRequest("limit must be an integer") from None
            marker = req.query.get("marker")
            if marker:
                ids = [n.id for n in nodes]
                if marker not in ids:
                    raise BadRequest(f"marker [{marker}] not found")
                nodes = nodes[ids.index(marker) + 1:]
            nodes = nodes[:limit]
        servers = _servers(uow, nodes) if with_servers else {}
        body: dict = {"hypervisors": [_hypervisor(n, services.get(n.host), usage, req.version, detail,
                                                  servers.get(n.hypervisor_hostname) if with_servers else None)
                                      for n in nodes]}
        if limit and len(nodes) == limit:
            path = "os-hypervisors/detail" if detail else "os-hypervisors"
            body["hypervisors_links"] = [{"rel": "next", "href": f"{req.base_url}/compute/v2.1/{path}?limit={limit}"
                                          f"&marker={nodes[-1].id}"}]
    return json_response(body)


def _servers(uow, nodes) -> dict[str, list]:
    names = [n.hypervisor_hostname for n in nodes]
    out: dict[str, list] = {}
    for node, uid, name in uow.session.execute(select(Instance.node, Instance.id, Instance.name).where(
            Instance.node.in_(names), Instance.deleted.is_(False))):
        out.setdefault(node, []).append({"uuid": uid, "name": name})
    return out


def list_hypervisors(req: ApiRequest):
    return _list(req, False)


def list_hypervisors_detail(req: ApiRequest):
    return _list(req, True)


def show_hypervisor(req: ApiRequest):
    req.enforce("os_compute_api:os-hypervisors:show")
    with req.deps.uow() as uow:
        node = svc.get_node(uow, req.params["hypervisor_id"])
        services = svc.services_by_host(uow)
        with_servers = req.version.matches("2.53") and req.query.get("with_servers", "").lower() in ("true", "1")
        servers = _servers(uow, [node]).get(node.hypervisor_hostname, []) if with_servers else None
        return json_response({"hypervisor": _hypervisor(node, services.get(node.host), _usage(uow), req.version,
                                                        True, servers)})


def hypervisor_statistics(req: ApiRequest):
    if req.version.matches("2.88"):
        raise NotFound("The resource could not be found.")
    req.enforce("os_compute_api:os-hypervisors:statistics")
    with req.deps.uow() as uow:
        services = svc.services_by_host(uow)
        usage = _usage(uow)
        docs = [_hypervisor(n, services.get(n.host), usage, req.version, True) for n in svc.list_nodes(uow)]
    keys = ("current_workload", "disk_available_least", "free_disk_gb", "free_ram_mb", "local_gb", "local_gb_used",
            "memory_mb", "memory_mb_used", "running_vms", "vcpus", "vcpus_used")
    stats = {k: sum(d[k] for d in docs) for k in keys}
    stats["count"] = len(docs)
    return json_response({"hypervisor_statistics": stats})


def hypervisor_uptime(req: ApiRequest):
    if req.version.matches("2.88"):
        raise NotFound("The resource could not be found.")
    req.enforce("os_compute_api:os-hypervisors:uptime")
    with req.deps.uow() as uow:
        node = svc.get_node(uow, req.params["hypervisor_id"])
        service = svc.services_by_host(uow).get(node.host)
        body = _hypervisor(node, service, {}, req.version, False)
    body["uptime"] = " 00:00:00 up 1 day,  1 users,  load average: 0.00, 0.00, 0.00"
    return json_response({"hypervisor": body})


# -- os-services ------------------------------------------------------------------------------------


def _service(row, zones: dict, v, default_zone: str) -> dict:
    body = {"id": row.id if v.matches("2.53") else abs(hash(row.id)) % (2 ** 31), "binary": row.binary,
            "disabled_reason": row.disabled_reason, "host": row.host,
            "state": "up" if svc.is_up(row) else "down", "status": "disabled" if row.disabled else "enabled",
            "updated_at": isotime_us(row.updated_at),
            "zone": zones.get(row.host, default_zone) if row.binary == "nova-compute" else svc.INTERNAL_ZONE}
    if v.matches("2.11"):
        body["forced_down"] = row.forced_down
    return body


def list_services(req: ApiRequest):
    req.enforce("os_compute_api:os-services:list")
    default_zone = req.deps.settings.compute.default_availability_zone
    with req.deps.uow() as uow:
        zones = svc.host_zones(uow, default_zone)
        rows = svc.list_services(uow, req.query.get("host"), req.query.get("binary"))
        return json_response({"services": [_service(r, zones, req.version, default_zone) for r in rows]})


def update_service(req: ApiRequest):
    req.enforce("os_compute_api:os-services:update")
    default_zone = req.deps.settings.compute.default_availability_zone
    target = req.params["service_id"]
    if not req.version.matches("2.53"):
        return _legacy_update(req, target)
    body = body_of(req, schemas.UPDATE_SERVICE_V2_53)
    if not body:
        raise BadRequest("At least one of status or forced_down must be specified.")
    with req.deps.uow(write=True) as uow:
        row = svc.update_service(uow, svc.get_service(uow, target), body)
        out = _service(row, svc.host_zones(uow, default_zone), req.version, default_zone)
    return json_response({"service": out})


def _legacy_update(req: ApiRequest, action: str):
    body = body_of(req, schemas.SERVICE_HOST)
    changes: dict = {}
    if action == "enable":
        changes = {"status": "enabled"}
    elif action == "disable":
        changes = {"status": "disabled"}
    elif action == "disable-log-reason":
        changes = {"status": "disabled", "disabled_reason": body.get("disabled_reason")}
    elif action == "force-down" and req.version.matches("2.11"):
        changes = {"forced_down": bool(body.get("forced_down"))}
    else:
        raise NotFound("Unknown action")
    with req.deps.uow(write=True) as uow:
        row = svc.update_service(uow, svc.find_service(uow, body["host"], body["binary"]), changes)
        out = {"host": row.host, "binary": row.binary}
        if "status" in changes:
            out["status"] = "disabled" if row.disabled else "enabled"
            if row.disabled_reason:
                out["disabled_reason"] = row.disabled_reason
        if "forced_down" in changes:
            out["forced_down"] = row.forced_down
    return json_response({"service": out})


def delete_service(req: ApiRequest):
    req.enforce("os_compute_api:os-services:delete")
    with req.deps.uow(write=True) as uow:
        service = svc.get_service(uow, req.params["service_id"])
        nodes = [n.id for n in svc.list_nodes(uow) if n.host == service.host]
        svc.delete_service(uow, service)
    placement = req.deps.placement
    if placement is not None:
        for node_id in nodes:
            with contextlib.suppress(Exception):  # the provider may still hold allocations
                placement.delete_provider(node_id)
    return empty_response(204)
