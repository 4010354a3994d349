"""os-simple-tenant-usage: server hours per project over a period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, json_response

from ..model import Instance
from .common import parse_bool, target


def _time(name: str, value: str | None, default: dt.datetime) -> dt.datetime:
    if not value:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid {name} time {value!r}: expected ISO 8601.") from None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _period(req: ApiRequest) -> tuple[dt.datetime, dt.datetime]:
    now = utcnow()
    start = _time("start", req.query.get("start"), now - dt.timedelta(days=1))
    end = _time("end", req.query.get("end"), now)
    if start > end:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, min(end, now)


def _server_usage(row: Instance, start: dt.datetime, end: dt.datetime) -> dict:
    began = max(row.launched_at or row.created_at, start)
    ended = min(row.terminated_at or end, end)
    hours = max((ended - began).total_seconds(), 0) / 3600
    flavor = row.flavor or {}
    return {"ended_at": row.terminated_at.isoformat() if row.terminated_at else None,
            "flavor": flavor.get("name"), "hours": hours, "instance_id": row.id,
            "local_gb": int(flavor.get("disk", 0)), "memory_mb": int(flavor.get("ram", 0)), "name": row.name,
            "started_at": (row.launched_at or row.created_at).isoformat(), "state": row.vm_state,
            "tenant_id": row.project_id, "uptime": int((end - (row.launched_at or row.created_at)).total_seconds()),
            "vcpus": int(flavor.get("vcpus", 0))}


def _usages(req: ApiRequest, project_id: str | None, detailed: bool) -> list[dict]:
    start, end = _period(req)
    with req.deps.uow() as uow:
        query = select(Instance).where(Instance.created_at <= end,
                                       or_(Instance.terminated_at.is_(None), Instance.terminated_at >= start))
        if project_id is not None:
            query = query.where(Instance.project_id == project_id)
        rows = list(uow.session.scalars(query.order_by(Instance.created_at, Instance.id)))
        by_project: dict[str, list[dict]] = {}
        for row in rows:
            by_project.setdefault(row.project_id, []).append(_server_usage(row, start, end))
    out = []
    for project, servers in by_project.items():
        usage = {"tenant_id": project, "start": start.isoformat(), "stop": end.isoformat(),
                 "total_hours": sum(s["hours"] for s in servers),
                 "total_local_gb_usage": sum(s["hours"] * s["local_gb"] for s in servers),
                 "total_memory_mb_usage": sum(s["hours"] * s["memory_mb"] for s in servers),
                 "total_vcpus_usage": sum(s["hours"] * s["vcpus"] for s in servers)}
        if detailed:
            usage["server_usages"] = servers
        out.append(usage)
    return out


def list_usage(req: ApiRequest):
    req.enforce("os_compute_api:os-simple-tenant-usage:list")
    detailed = parse_bool("detailed", req.query["detailed"]) if "detailed" in req.query else False
    return json_response({"tenant_usages": _usages(req, None, detailed)})


def show_usage(req: ApiRequest):
    project_id = req.params["project_id"]
    req.enforce("os_compute_api:os-simple-tenant-usage:show", target(project_id))
    found = _usages(req, project_id, True)
    return json_response({"tenant_usage": found[0] if found else {}})
