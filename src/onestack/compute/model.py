"""Compute tables: flavors, keypairs, servers (instances) with their actions, groups, hosts, aggregates."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onestack.core.db import Base, ReconciledMixin, TimestampMixin, utcnow


def new_uuid() -> str:
    return str(uuid.uuid4())


class Flavor(TimestampMixin, Base):
    __tablename__ = "compute_flavors"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the API's flavor id ("flavorid")
    name: Mapped[str] = mapped_column(String(255), unique=True)
    memory_mb: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)


class FlavorAccess(Base):
    __tablename__ = "compute_flavor_access"
    __table_args__ = (UniqueConstraint("flavor_id", "project_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flavor_id: Mapped[str] = mapped_column(ForeignKey("compute_flavors.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(255))


class KeyPair(Base):
    __tablename__ = "compute_key_pairs"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuotaLock(Base):
    """One row per project (or user): locked FOR UPDATE while a quota is counted and consumed."""

    __tablename__ = "compute_quota_locks"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)


class Instance(TimestampMixin, ReconciledMixin, Base):
    __tablename__ = "compute_instances"
    __table_args__ = (Index("ix_compute_instances_project_deleted", "project_id", "deleted"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    image_ref: Mapped[str] = mapped_column(String(255), default="")
    flavor_id: Mapped[str] = mapped_column(String(255))
    flavor: Mapped[dict] = mapped_column(JSON)  # snapshot of the flavor at boot/resize
    vcpus: Mapped[int] = mapped_column(Integer, default=0)  # of the flavor: summed for quota usage
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    old_flavor: Mapped[dict | None] = mapped_column(JSON, default=None)  # during resize
    host: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    node: Mapped[str | None] = mapped_column(String(255), default=None)  # hypervisor hostname
    node_id: Mapped[str | None] = mapped_column(String(36), default=None)  # compute node = provider uuid
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    requested_az: Mapped[str | None] = mapped_column(String(255), default=None)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(64), default=None)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[dict | None] = mapped_column(JSON, default=None)  # the action the agent is to carry out
    key_name: Mapped[str | None] = mapped_column(String(255), default=None)
    key_data: Mapped[str | None] = mapped_column(Text, default=None)
    user_data: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    system_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    config_drive: Mapped[str] = mapped_column(String(16), default="")
    access_ip_v4: Mapped[str] = mapped_column(String(64), default="")
    access_ip_v6: Mapped[str] = mapped_column(String(64), default="")
    security_groups: Mapped[list] = mapped_column(JSON, default=list)
    requested_networks: Mapped[list | str | None] = mapped_column(JSON, default=None)
    # what the server view lists as volumes_attached ([{"volume_id", "delete_on_termination", "attached"}]):
    # a copy of the BlockDeviceMapping rows kept in the same transactions, so server lists need no join
    block_devices: Mapped[list] = mapped_column(JSON, default=list)
    addresses: Mapped[dict] = mapped_column(JSON, default=dict)
    scheduler_hints: Mapped[dict] = mapped_column(JSON, default=dict)
    server_group_id: Mapped[str | None] = mapped_column(String(36), default=None)
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(16), default=None)
    locked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    launched_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # loaded when used: most reads of a server (scheduler, agent) never look at its tags
    tags: Mapped[list[InstanceTag]] = relationship(cascade="all, delete-orphan", lazy="select",
                                                   order_by="InstanceTag.tag")


class BlockDeviceMapping(TimestampMixin, Base):
    """A disk of a server backed by a volume (Nova's BDM).  ``status``: ``pending`` (boot volume to create
    and/or attach at build), ``attaching``, ``attached``, ``detaching`` — the host agent converges them."""

    __tablename__ = "compute_block_device_mappings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)  # bdm_uuid (2.89)
    instance_id: Mapped[str] = mapped_column(ForeignKey("compute_instances.id", ondelete="CASCADE"), index=True)
    volume_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    source_type: Mapped[str] = mapped_column(String(16), default="volume")  # volume | image | snapshot | blank
    destination_type: Mapped[str] = mapped_column(String(16), default="volume")
    source_id: Mapped[str | None] = mapped_column(String(36), default=None)  # image or snapshot to create from
    volume_size: Mapped[int | None] = mapped_column(Integer, default=None)
    volume_type: Mapped[str | None] = mapped_column(String(255), default=None)
    boot_index: Mapped[int | None] = mapped_column(Integer, default=None)
    device_name: Mapped[str | None] = mapped_column(String(64), default=None)
    tag: Mapped[str | None] = mapped_column(String(60), default=None)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    attachment_id: Mapped[str | None] = mapped_column(String(36), default=None)  # the block storage attachment
    connection_info: Mapped[dict | None] = mapped_column(JSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)


class VirtualInterface(TimestampMixin, Base):
    """A port attached to a running server through ``os-interface`` (Nova's virtual interface): the request
    the host agent converges (``attaching`` → ``plugging`` once the agent took it → ``attached``; ``detaching``
    → row gone; ``failed`` keeps the fault for the waiting API request, which withdraws an ``attaching`` request
    or turns a ``plugging`` one into a detach when it gives up) and the ``tag`` the interface list shows from
    2.70 (and the metadata service's ``devices``).  Ports given at boot have a row (``attached``) only when
    their ``networks`` entry had a tag, else none until they are detached."""

    __tablename__ = "compute_virtual_interfaces"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("compute_instances.id", ondelete="CASCADE"), index=True)
    port_id: Mapped[str] = mapped_column(String(36), index=True)
    tag: Mapped[str | None] = mapped_column(String(60), default=None)
    status: Mapped[str] = mapped_column(String(16), default="attaching", index=True)
    request_id: Mapped[str] = mapped_column(String(64), default="")  # the API request waiting for the outcome
    fault: Mapped[dict | None] = mapped_column(JSON, default=None)  # {"code", "message"} of a failed attach


class InstanceTag(Base):
    __tablename__ = "compute_instance_tags"
    instance_id: Mapped[str] = mapped_column(ForeignKey("compute_instances.id", ondelete="CASCADE"),
                                             primary_key=True)
    tag: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)


class InstanceAction(Base):
    __tablename__ = "compute_instance_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[dt.datetime | None] = mapped_column(default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    events: Mapped[list[InstanceActionEvent]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                             order_by="InstanceActionEvent.id")


class InstanceActionEvent(Base):
    __tablename__ = "compute_instance_action_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("compute_instance_actions.id", ondelete="CASCADE"),
                                           index=True)
    event: Mapped[str] = mapped_column(String(64))
    start_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[dt.datetime | None] = mapped_column(default=None)
    result: Mapped[str | None] = mapped_column(String(16), default=None)
    traceback: Mapped[str | None] = mapped_column(Text, default=None)
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    details: Mapped[str | None] = mapped_column(Text, default=None)


class ServerGroup(Base):
    __tablename__ = "compute_server_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServerGroupMember(Base):
    __tablename__ = "compute_server_group_members"
    group_id: Mapped[str] = mapped_column(ForeignKey("compute_server_groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class Service(Base):
    """A compute service (nova-compute on a host, or the scheduler): os-services."""

    __tablename__ = "compute_services"
    __table_args__ = (UniqueConstraint("host", "binary"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64), default="compute")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_up: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ComputeNode(Base):
    """A hypervisor: what one compute host offers.  Its id is its placement resource provider's uuid."""

    __tablename__ = "compute_nodes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255), index=True)
    hypervisor_hostname: Mapped[str] = mapped_column(String(255), unique=True)
    hypervisor_type: Mapped[str] = mapped_column(String(64), default="fake")
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=1000)
    host_ip: Mapped[str] = mapped_column(String(64), default="127.0.0.1")
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    local_gb: Mapped[int] = mapped_column(Integer, default=0)
    cpu_info: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Aggregate(Base):
    __tablename__ = "compute_aggregates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    hosts: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
