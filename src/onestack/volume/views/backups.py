"""Backup documents per microversion."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import Backup
from .common import iso, links


def summary(row: Backup, base: str) -> dict:
    return {"id": row.id, "name": row.name, "links": links(base, "backups", row.id)}


def detail(row: Backup, base: str, version: Version, admin: bool) -> dict:
    body = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "availability_zone": row.availability_zone,
        "container": row.container,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "data_timestamp": iso(row.data_timestamp),
        "size": row.size,
        "object_count": row.object_count,
        "fail_reason": row.fail_reason,
        "volume_id": row.volume_id,
        "snapshot_id": row.snapshot_id,
        "is_incremental": False,
        "has_dependent_backups": False,
        "links": links(base, "backups", row.id),
    }
    if version.matches("3.18") and admin:
        body["os-backup-project-attr:project_id"] = row.project_id
    if version.matches("3.43"):
        body["metadata"] = dict(row.metadata_ or {})
    if version.matches("3.56") and admin:
        body["user_id"] = row.user_id
    if version.matches("3.64"):
        body["encryption_key_id"] = None
    return body
