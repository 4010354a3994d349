"""v3 attachment documents (3.27+)."""

from __future__ import annotations

from ..model import Attachment
from .common import iso


def summary(att: Attachment) -> dict:
    return {"id": att.id, "status": att.attach_status, "instance": att.instance_uuid, "volume_id": att.volume_id}


def detail(att: Attachment) -> dict:
    return {**summary(att), "attached_at": iso(att.attach_time), "detached_at": iso(att.detach_time),
            "attach_mode": att.attach_mode, "connection_info": att.connection_info or {}}
