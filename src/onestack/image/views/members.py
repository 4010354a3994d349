"""Image member documents."""

from __future__ import annotations

from ..model import ImageMember
from .images import isotime


def member(row: ImageMember) -> dict:
    return {"member_id": row.member, "image_id": row.image_id, "status": row.status,
            "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
            "schema": "/v2/schemas/member"}


def members(rows: list[ImageMember]) -> dict:
    return {"members": [member(r) for r in rows], "schema": "/v2/schemas/members"}
