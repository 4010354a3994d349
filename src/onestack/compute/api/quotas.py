from __future__ import annotations

from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import quotas as schemas
from ..service import quotas as svc
from .common import body_of, by_version, target


def _shape(req: ApiRequest, values: dict, unlimited) -> dict:
    """Drop what the microversion no longer shows; add the network quotas older versions show."""
    out = dict(values)
    if req.version.matches("2.57"):
        for name in svc.LEGACY_FILES:
            out.pop(name, None)
    if not req.version.matches("2.36"):
        for name in svc.LEGACY_NETWORK:
            out[name] = unlimited
    return out


def limits(req: ApiRequest):
    project_id = req.ctx.project_id
    if req.query.get("tenant_id") and req.query["tenant_id"] != project_id:
        req.enforce("os_compute_api:limits:other_project")
        project_id = req.query["tenant_id"]
    req.enforce("os_compute_api:limits")
    limit = req.deps.limit
    with req.deps.uow() as uow:
        usage = svc.project_usage(uow, project_id)
    absolute = {
        "maxTotalInstances": limit("instances", project_id),
        "maxTotalCores": limit("cores", project_id),
        "maxTotalRAMSize": limit("ram", project_id),
        "maxServerMeta": limit("metadata_items", project_id),
        "maxImageMeta": limit("metadata_items", project_id),
        "maxTotalKeypairs": limit("key_pairs", project_id),
        "maxServerGroups": limit("server_groups", project_id),
        "maxServerGroupMembers": limit("server_group_members", project_id),
        "totalInstancesUsed": usage.instances,
        "totalCoresUsed": usage.cores,
        "totalRAMUsed": usage.ram,
        "totalServerGroupsUsed": usage.server_groups,
    }
    if not req.version.matches("2.57"):
        absolute["maxPersonality"] = limit("injected_files", project_id)
        absolute["maxPersonalitySize"] = limit("injected_file_content_bytes", project_id)
    if not req.version.matches("2.36"):
        absolute.update({"maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxTotalFloatingIps": -1,
                         "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0})
    return json_response({"limits": {"rate": [], "absolute": absolute}})


def show_quota_set(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("os_compute_api:os-quota-sets:show", target(project_id))
    values = svc.quota_set(req.deps.limit, project_id)
    return json_response({"quota_set": {"id": project_id, **_shape(req, values, -1)}})


def show_quota_set_detail(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("os_compute_api:os-quota-sets:detail", target(project_id))
    with req.deps.uow() as uow:
        values = svc.quota_detail(uow, req.deps.limit, project_id)
    unlimited = {"limit": -1, "in_use": 0, "reserved": 0}
    return json_response({"quota_set": {"id": project_id, **_shape(req, values, unlimited)}})


def show_quota_defaults(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("os_compute_api:os-quota-sets:defaults", target(project_id))
    values = {name: req.deps.default_limit(name) for name in svc.RESOURCES}
    return json_response({"quota_set": {"id": project_id, **_shape(req, values, -1)}})


def update_quota_set(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("os_compute_api:os-quota-sets:update", target(project_id))
    schema = by_version(req, ("2.1", schemas.UPDATE_QUOTA_SET), ("2.36", schemas.UPDATE_QUOTA_SET_V2_36),
                        ("2.57", schemas.UPDATE_QUOTA_SET_V2_57))
    body = body_of(req, schema, "quota_set")
    body.pop("force", None)
    changes = {name: int(value) for name, value in body.items() if name in svc.RESOURCES}
    req.deps.set_limits(project_id, changes)
    values = svc.quota_set(req.deps.limit, project_id)
    return json_response({"quota_set": _shape(req, values, -1)})


def delete_quota_set(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("os_compute_api:os-quota-sets:delete", target(project_id))
    req.deps.reset_limits(project_id)
    return empty_response(202)
