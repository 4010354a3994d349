"""Version discovery, availability zones, services and extensions."""

from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..views.common import iso
from ..views.versions import v3
from .common import version


def list_versions(req: ApiRequest):
    return json_response({"versions": [v3(req.base_url)]}, 300)


def show_version(req: ApiRequest):
    return json_response({"versions": [v3(req.base_url)]})


def list_availability_zones(req: ApiRequest):
    req.enforce("volume_extension:availability_zone_list")
    return json_response({"availabilityZoneInfo": [{"zoneName": req.deps.zone, "zoneState": {"available": True}}]})


def list_services(req: ApiRequest):
    req.enforce("volume_extension:services:index")
    services = req.deps.services()
    binary = req.query.get("binary")
    host = req.query.get("host")
    out = []
    for svc in services:
        if binary and svc["binary"] != binary:
            continue
        if host and svc["host"] != host:
            continue
        item = {"binary": svc["binary"], "host": svc["host"], "zone": req.deps.zone, "status": "enabled",
                "state": "up" if svc["up"] else "down", "updated_at": iso(svc["updated_at"]),
                "disabled_reason": None}
        if version(req).matches("3.7"):
            item["cluster"] = None
        if version(req).matches("3.49") and svc["binary"] == "cinder-volume":
            item["backend_state"] = "up" if svc["up"] else "down"
        if version(req).matches("3.32"):
            item["replication_status"] = "disabled" if svc["binary"] == "cinder-volume" else None
        out.append(item)
    return json_response({"services": out})


def list_extensions(req: ApiRequest):
    req.enforce("volume_extension:extensions")
    return json_response({"extensions": []})
