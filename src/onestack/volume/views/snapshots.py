"""Snapshot documents per microversion."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import Snapshot
from .common import iso


def summary(row: Snapshot, version: Version) -> dict:
    body = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "size": row.size,
        "volume_id": row.volume_id,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "metadata": dict(row.metadata_ or {}),
    }
    if version.matches("3.14"):
        body["group_snapshot_id"] = None
    if version.matches("3.41"):
        body["user_id"] = row.user_id
    if version.matches("3.65"):
        body["consumes_quota"] = True
    return body


def detail(row: Snapshot, version: Version) -> dict:
    body = summary(row, version)
    body["os-extended-snapshot-attributes:progress"] = row.progress
    body["os-extended-snapshot-attributes:project_id"] = row.project_id
    return body
