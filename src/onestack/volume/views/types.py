"""Volume type documents."""

from __future__ import annotations

from ..model import VolumeType


def volume_type(row: VolumeType, admin: bool) -> dict:
    body = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "is_public": row.is_public,
        "os-volume-type-access:is_public": row.is_public,
        "extra_specs": dict(row.extra_specs or {}),
    }
    if admin:
        body["qos_specs_id"] = row.qos_specs_id
    return body


def access(volume_type_id: str, project_id: str) -> dict:
    return {"volume_type_id": volume_type_id, "project_id": project_id}
