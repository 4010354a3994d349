"""Volume transfer documents per microversion."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import Transfer
from .common import iso, links


def summary(row: Transfer, base: str, kind: str) -> dict:
    return {"id": row.id, "name": row.name, "volume_id": row.volume_id, "links": links(base, kind, row.id)}


def detail(row: Transfer, base: str, kind: str, version: Version) -> dict:
    body = {**summary(row, base, kind), "created_at": iso(row.created_at)}
    if version.matches("3.55"):
        body["no_snapshots"] = row.no_snapshots
    if version.matches("3.57"):
        body["destination_project_id"] = row.destination_project_id
        body["source_project_id"] = row.source_project_id
        body["accepted"] = row.accepted
    return body
