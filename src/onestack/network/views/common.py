"""Standard attributes every Neutron resource shows."""

from __future__ import annotations


def ts(value) -> str | None:
    # isoformat is C and several times cheaper than strftime (lists render thousands of these)
    return value.isoformat(timespec="seconds")[:19] + "Z" if value else None


def standard(row, with_name: bool = True) -> dict:
    out = {"id": row.id}
    if with_name:
        out["name"] = row.name
    out.update({
        "tenant_id": row.project_id, "project_id": row.project_id, "description": row.description or "",
        "tags": list(row.tags or []), "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
        "revision_number": row.revision,
    })
    return out
