from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..service import hosts as svc
from ..views.common import isotime_us


def list_zones(req: ApiRequest):
    req.enforce("os_compute_api:os-availability-zone:list")
    with req.deps.uow() as uow:
        zones = svc.list_zones(uow, req.deps.settings.compute.default_availability_zone)
        info = []
        for name, services in sorted(zones.items()):
            if name == svc.INTERNAL_ZONE:
                continue
            info.append({"zoneName": name, "zoneState": {"available": any(not s.disabled for s in services)},
                         "hosts": None})
    return json_response({"availabilityZoneInfo": info})


def list_zones_detail(req: ApiRequest):
    req.enforce("os_compute_api:os-availability-zone:detail")
    with req.deps.uow() as uow:
        zones = svc.list_zones(uow, req.deps.settings.compute.default_availability_zone)
        info = []
        for name, services in sorted(zones.items()):
            hosts: dict = {}
            for s in services:
                hosts.setdefault(s.host, {})[s.binary] = {
                    "available": svc.is_up(s), "active": not s.disabled, "updated_at": isotime_us(s.updated_at)}
            info.append({"zoneName": name, "zoneState": {"available": any(not s.disabled for s in services)},
                         "hosts": hosts})
    return json_response({"availabilityZoneInfo": info})
