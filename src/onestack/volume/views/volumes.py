"""Volume documents per microversion (summary for ``GET /volumes``, detail elsewhere)."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import Attachment, Volume
from ..service.volumes import visible_metadata
from .common import iso, links

# the one cinder-volume service of this deployment (all-in-one: one backend)
SERVICE_UUID = "5b6a2f4e-8f43-4b2e-9c39-0a7d4b1c9e21"


def summary(row: Volume, base: str) -> dict:
    return {"id": row.id, "name": row.name, "links": links(base, "volumes", row.id)}


def attachment(att: Attachment) -> dict:
    return {"id": att.volume_id, "attachment_id": att.id, "volume_id": att.volume_id, "server_id": att.instance_uuid,
            "host_name": att.attached_host, "device": att.mountpoint, "attached_at": iso(att.attach_time)}


def detail(row: Volume, base: str, version: Version, attachments: list[Attachment], type_name: str | None,
           admin: bool, extended: bool = True) -> dict:
    """``extended``: the extension attributes upstream adds on GET (tenant, host, migration, image metadata),
    absent from create and update responses."""
    body = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "size": row.size,
        "availability_zone": row.availability_zone,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "attachments": [attachment(a) for a in attachments],
        "bootable": "true" if row.bootable else "false",
        "encrypted": False,
        "metadata": visible_metadata(row),
        "volume_type": type_name,
        "snapshot_id": row.snapshot_id,
        "source_volid": row.source_volid,
        "user_id": row.user_id,
        "multiattach": row.multiattach,
        "replication_status": None,
        "consistencygroup_id": None,
        "migration_status": row.migration_status if admin else None,
        "links": links(base, "volumes", row.id),
    }
    if extended:
        body["os-vol-tenant-attr:tenant_id"] = row.project_id
        if row.image_metadata:
            body["volume_image_metadata"] = dict(row.image_metadata)
    if admin and extended:
        body["os-vol-host-attr:host"] = row.host
        body["os-vol-mig-status-attr:migstat"] = row.migration_status
        body["os-vol-mig-status-attr:name_id"] = None
    if version.matches("3.13"):
        body["group_id"] = None
    if version.matches("3.21") and admin:
        body["provider_id"] = None
    if version.matches("3.48"):
        body["service_uuid"] = SERVICE_UUID
        body["shared_targets"] = False
    if version.matches("3.61") and admin:
        body["cluster_name"] = None
    if version.matches("3.63"):
        body["volume_type_id"] = row.volume_type_id
    if version.matches("3.64"):
        body["encryption_key_id"] = None
    if version.matches("3.65"):
        body["consumes_quota"] = True
    return body
