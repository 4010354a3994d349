"""User message documents (3.3)."""

from __future__ import annotations

from ..model import Message
from .common import iso, links


def message(row: Message, base: str) -> dict:
    return {"id": row.id, "event_id": row.event_id, "user_message": row.user_message,
            "message_level": row.message_level, "resource_type": row.resource_type,
            "resource_uuid": row.resource_uuid, "created_at": iso(row.created_at),
            "guaranteed_until": iso(row.expires_at), "request_id": row.request_id,
            "links": links(base, "messages", row.id)}
