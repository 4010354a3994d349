"""Quota sets (with usage and defaults) and absolute limits."""

from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.quotas import UPDATE_QUOTA_SET
from ..service import quotas as svc
from ..service.common import parse_bool
from .common import body_of


def show_quota_set(req: ApiRequest):
    project_id = req.params["target_project_id"]
    req.enforce("volume_extension:quotas:show", {"project_id": project_id})
    usage = parse_bool(req.query.get("usage", "false"), "usage")
    with req.deps.uow() as uow:
        limits = svc.quota_set(uow, req.deps.limits, project_id)
        used = svc.usage(uow, project_id) if usage else {}
    if usage:
        body = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0, "allocated": 0} for k, v in limits.items()}
    else:
        body = dict(limits)
    return json_response({"quota_set": {"id": project_id, **body}})


def show_default_quota_set(req: ApiRequest):
    project_id = req.params["target_project_id"]
    req.enforce("volume_extension:quotas:show", {"project_id": project_id})
    with req.deps.uow() as uow:
        body = svc.default_set(uow, req.deps.limits, project_id)
    return json_response({"quota_set": {"id": project_id, **body}})


def update_quota_set(req: ApiRequest):
    project_id = req.params["target_project_id"]
    req.enforce("volume_extension:quotas:update", {"project_id": project_id})
    values = body_of(req, UPDATE_QUOTA_SET, "quota_set")
    values = {k: v for k, v in values.items() if k not in ("id", "tenant_id", "project_id", "skip_validation")}
    with req.deps.uow(write=True) as uow:
        svc.update_quota_set(uow, req.deps.limits, project_id, values)
        uow.flush()
        body = svc.quota_set(uow, req.deps.limits, project_id)
    return json_response({"quota_set": body})


def delete_quota_set(req: ApiRequest):
    project_id = req.params["target_project_id"]
    req.enforce("volume_extension:quotas:delete", {"project_id": project_id})
    with req.deps.uow(write=True) as uow:
        svc.delete_quota_set(uow, project_id)
    return empty_response(200)


def show_limits(req: ApiRequest):
    project_id = req.ctx.project_id or ""
    with req.deps.uow() as uow:
        limits = svc.quota_set(uow, req.deps.limits, project_id)
        used = svc.usage(uow, project_id)
    absolute = {
        "maxTotalVolumes": limits["volumes"],
        "maxTotalSnapshots": limits["snapshots"],
        "maxTotalVolumeGigabytes": limits["gigabytes"],
        "maxTotalBackups": limits["backups"],
        "maxTotalBackupGigabytes": limits["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"],
        "totalSnapshotsUsed": used["snapshots"],
        "totalGigabytesUsed": used["gigabytes"],
        "totalBackupsUsed": used["backups"],
        "totalBackupGigabytesUsed": used["backup_gigabytes"],
    }
    return json_response({"limits": {"rate": [], "absolute": absolute}})


