"""Version discovery, availability zones, services and extensions."""

from __future__ import annotations

from onestack.core.errors import NotFound
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


# The API extensions Cinder v3 advertises (what clients and Tempest look for by name/alias).
_EXTENSIONS = (
    ("os-admin-actions", "AdminActions", "Enable admin actions."),
    ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
    ("backups", "Backups", "Backups support."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended SnapshotAttributes support."),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("os-vol-image-meta", "VolumeImageMetadata", "Show image metadata associated with the volume."),
    ("os-quota-sets", "Quotas", "Quota management support."),
    ("os-services", "Services", "Services support."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status as an attribute of a volume."),
    ("os-volume-actions", "VolumeActions", "Enable volume actions."),
    ("os-volume-transfer", "VolumeTransfer", "Volume transfer management support."),
    ("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
    ("os-types-manage", "TypesManage", "Types manage support."),
    ("os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."),
)


def list_extensions(req: ApiRequest):
    req.enforce("volume_extension:extensions")
    return json_response({"extensions": [
        {"alias": alias, "name": name, "description": text, "updated": "2012-12-31T00:00:00+00:00", "links": []}
        for alias, name, text in _EXTENSIONS]})


def not_found(req: ApiRequest):
    """Collection URLs with a missing id (``DELETE /volumes/``): 404, as upstream's router answers."""
    raise NotFound("The resource could not be found.")
