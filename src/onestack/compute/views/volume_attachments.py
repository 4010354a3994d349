"""``volumeAttachment`` documents, shaped per microversion (tag 2.70, delete_on_termination 2.79,
attachment_id/bdm_uuid instead of id 2.89)."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import BlockDeviceMapping


def attachment(row: BlockDeviceMapping, v: Version) -> dict:
    body: dict = {}
    if not v.matches("2.89"):
        body["id"] = row.volume_id
    body.update({"volumeId": row.volume_id, "serverId": row.instance_id})
    if row.device_name:
        body["device"] = row.device_name
    if v.matches("2.70"):
        body["tag"] = row.tag
    if v.matches("2.79"):
        body["delete_on_termination"] = bool(row.delete_on_termination)
    if v.matches("2.89"):
        body["attachment_id"] = row.attachment_id
        body["bdm_uuid"] = row.id
    return body


def created(row: BlockDeviceMapping, v: Version) -> dict:
    """What POST returns: always ``id`` (the volume), tag from 2.70, delete_on_termination from 2.79."""
    body = {"id": row.volume_id, "serverId": row.instance_id, "volumeId": row.volume_id,
            "device": row.device_name}
    if v.matches("2.70"):
        body["tag"] = row.tag
    if v.matches("2.79"):
        body["delete_on_termination"] = bool(row.delete_on_termination)
    return body
