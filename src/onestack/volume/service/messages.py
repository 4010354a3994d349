"""User messages (3.3): the agent records why an asynchronous operation failed; users list and delete them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from onestack.core.db import utcnow
from onestack.core.uow import UnitOfWork

from ..model import Message
from .common import Caller, get_scoped

# Cinder's message_field actions (the middle part of an event id)
ACTIONS = {
    "create volume": "001",
    "attach volume": "002",
    "copy volume to image": "003",
    "copy image to volume": "005",
    "extend volume": "007",
    "create snapshot": "009",
    "delete snapshot": "010",
    "backup create": "015",
    "backup delete": "016",
    "backup restore": "017",
    "delete volume": "020",
    "revert volume": "021",
}
RESOURCE_PREFIX = {"VOLUME": "VOLUME_VOLUME", "VOLUME_SNAPSHOT": "VOLUME_VOLUME_SNAPSHOT",
                   "VOLUME_BACKUP": "VOLUME_VOLUME_BACKUP"}
KEEP = dt.timedelta(days=30)  # cinder [DEFAULT] message_ttl


def record(uow: UnitOfWork, project_id: str, resource_type: str, resource_uuid: str, action: str,
           detail: str) -> Message:
    row = Message(project_id=project_id, resource_type=resource_type, resource_uuid=resource_uuid,
                  event_id=f"{RESOURCE_PREFIX[resource_type]}_{ACTIONS.get(action, '000')}_001",
                  message_level="ERROR", user_message=f"{action}: {detail}", created_at=utcnow(),
                  expires_at=utcnow() + KEEP)
    uow.session.add(row)
    return row


def list_messages(uow: UnitOfWork, caller: Caller, filters: dict) -> list[Message]:
    query = select(Message).where((Message.expires_at.is_(None)) | (Message.expires_at > utcnow()))
    if not caller.is_admin:
        query = query.where(Message.project_id == caller.project_id)
    rows = list(uow.session.scalars(query))
    for key, want in filters.items():
        rows = [r for r in rows if str(getattr(r, key, None)) == str(want)]
    return rows


def get_message(uow: UnitOfWork, caller: Caller, message_id: str) -> Message:
    return get_scoped(uow, Message, message_id, caller, "Message")


def delete_message(uow: UnitOfWork, caller: Caller, message_id: str) -> None:
    uow.session.delete(get_message(uow, caller, message_id))
