"""Block storage tables (all prefixed ``volume_``).

``status`` is the upstream Cinder status; transitional states (``creating``, ``deleting``,
``extending``, ...) are the desired state the volume agent converges; ``revision`` is bumped on every
change the agent has to act on and ``observed_revision`` records what it converged to.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onestack.core.db import Base, ReconciledMixin, TimestampMixin, utcnow


def new_uuid() -> str:
    return str(uuid.uuid4())


class UuidMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)


class VolumeType(UuidMixin, TimestampMixin, Base):
    __tablename__ = "volume_types"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)
    qos_specs_id: Mapped[str | None] = mapped_column(String(36), default=None)


class VolumeTypeAccess(Base):
    __tablename__ = "volume_type_access"
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class DefaultType(Base):
    """Per-project default volume types (``/default-types``, 3.62)."""

    __tablename__ = "volume_default_types"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"))


class Volume(UuidMixin, TimestampMixin, ReconciledMixin, Base):
    __tablename__ = "volume_volumes"
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    volume_type_id: Mapped[str | None] = mapped_column(ForeignKey("volume_types.id"), default=None)
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    admin_metadata: Mapped[dict] = mapped_column(JSON, default=dict)  # readonly, attached_mode
    image_metadata: Mapped[dict] = mapped_column(JSON, default=dict)  # volume_image_metadata
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    source_volid: Mapped[str | None] = mapped_column(String(36), default=None)
    image_id: Mapped[str | None] = mapped_column(String(36), default=None)
    backup_id: Mapped[str | None] = mapped_column(String(36), default=None)  # being restored from
    migration_status: Mapped[str | None] = mapped_column(String(32), default=None)
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    previous_status: Mapped[str | None] = mapped_column(String(32), default=None)
    # what the agent must do next (create/extend/upload...), with its arguments
    task: Mapped[dict | None] = mapped_column(JSON, default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Attachment(UuidMixin, TimestampMixin, Base):
    __tablename__ = "volume_attachments"
    volume_id: Mapped[str] = mapped_column(ForeignKey("volume_volumes.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    instance_uuid: Mapped[str | None] = mapped_column(String(64), default=None)
    attached_host: Mapped[str | None] = mapped_column(String(255), default=None)
    mountpoint: Mapped[str | None] = mapped_column(String(255), default=None)
    attach_status: Mapped[str] = mapped_column(String(32), default="reserved")
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    connector: Mapped[dict | None] = mapped_column(JSON, default=None)
    connection_info: Mapped[dict | None] = mapped_column(JSON, default=None)
    attach_time: Mapped[dt.datetime | None] = mapped_column(default=None)
    detach_time: Mapped[dt.datetime | None] = mapped_column(default=None)


class Snapshot(UuidMixin, TimestampMixin, ReconciledMixin, Base):
    __tablename__ = "volume_snapshots"
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    volume_type_id: Mapped[str | None] = mapped_column(String(36), default=None)
    progress: Mapped[str] = mapped_column(String(8), default="0%")
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Backup(UuidMixin, TimestampMixin, ReconciledMixin, Base):
    __tablename__ = "volume_backups"
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    size: Mapped[int] = mapped_column(Integer)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    container: Mapped[str | None] = mapped_column(String(255), default=None)
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    fail_reason: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    data_timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)
    task: Mapped[dict | None] = mapped_column(JSON, default=None)  # {"restore": volume_id}
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Transfer(UuidMixin, TimestampMixin, Base):
    __tablename__ = "volume_transfers"
    volume_id: Mapped[str] = mapped_column(ForeignKey("volume_volumes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    salt: Mapped[str] = mapped_column(String(64))
    crypt_hash: Mapped[str] = mapped_column(String(255))
    source_project_id: Mapped[str] = mapped_column(String(64))
    destination_project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)


class Quota(Base):
    """Per-project overrides of the unified-limit defaults (``PUT /os-quota-sets/{project_id}``)."""

    __tablename__ = "volume_quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)


class ProjectLock(Base):
    """One row per project, locked (SELECT ... FOR UPDATE) while quota usage is checked and claimed."""

    __tablename__ = "volume_project_locks"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)


class Message(UuidMixin, Base):
    """User messages (``/messages``, 3.3): what went wrong with an asynchronous operation."""

    __tablename__ = "volume_messages"
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(255), default=None)
    resource_type: Mapped[str] = mapped_column(String(32))  # VOLUME | VOLUME_SNAPSHOT | VOLUME_BACKUP
    resource_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    event_id: Mapped[str] = mapped_column(String(64))
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR")
    user_message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
