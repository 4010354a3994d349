"""Networking tables (all prefixed ``network_``).

The database enforces what must never happen twice: an IP address in a subnet
(``network_ip_allocations`` unique on subnet+address), a MAC address (unique on ports), a
segmentation id per network type, one flat network per physical network and one ``default``
security group per project.  ``revision`` is Neutron's ``revision_number``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onestack.core.db import Base, IdMixin, TimestampMixin, utcnow


class StandardAttrs(IdMixin, TimestampMixin):
    """What every Neutron resource with standard attributes has."""

    project_id: Mapped[str] = mapped_column(String(64), index=True, default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    tags: Mapped[list] = mapped_column(JSON, default=list)


class Network(StandardAttrs, Base):
    __tablename__ = "network_networks"
    __table_args__ = (UniqueConstraint("network_type", "segmentation_id"), UniqueConstraint("flat_physnet"))

    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str] = mapped_column(String(32), default="vxlan")
    physical_network: Mapped[str | None] = mapped_column(String(64), default=None)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, default=None)
    flat_physnet: Mapped[str | None] = mapped_column(String(64), default=None)  # unique: one flat net per physnet
    availability_zone_hints: Mapped[list] = mapped_column(JSON, default=list)
    dns_domain: Mapped[str] = mapped_column(String(255), default="")

    subnets: Mapped[list[Subnet]] = relationship(back_populates="network", lazy="selectin",
                                                 order_by="Subnet.created_at")


class SubnetPool(StandardAttrs, Base):
    __tablename__ = "network_subnetpools"

    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    prefixes: Mapped[list] = mapped_column(JSON, default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer, default=24)
    min_prefixlen: Mapped[int] = mapped_column(Integer, default=8)
    max_prefixlen: Mapped[int] = mapped_column(Integer, default=32)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    default_quota: Mapped[int | None] = mapped_column(Integer, default=None)


class Subnet(StandardAttrs, Base):
    __tablename__ = "network_subnets"

    network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), default=None)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), default=None)
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)
    host_routes: Mapped[list] = mapped_column(JSON, default=list)
    subnetpool_id: Mapped[str | None] = mapped_column(ForeignKey("network_subnetpools.id"), default=None,
                                                      index=True)

    network: Mapped[Network] = relationship(back_populates="subnets", lazy="select")


class Port(StandardAttrs, Base):
    __tablename__ = "network_ports"

    network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="", index=True)
    host_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    profile: Mapped[dict] = mapped_column(JSON, default=dict)
    allowed_address_pairs: Mapped[list] = mapped_column(JSON, default=list)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_client: Mapped[str] = mapped_column(String(64), default="")  # "compute" for allocate_for_server

    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        back_populates="port", lazy="selectin", cascade="all, delete-orphan", order_by="IPAllocation.ip_order")
    sg_bindings: Mapped[list[PortSecurityGroup]] = relationship(
        lazy="selectin", cascade="all, delete-orphan")

    @property
    def security_group_ids(self) -> list[str]:
        return [b.security_group_id for b in self.sg_bindings]


class IPAllocation(Base):
    __tablename__ = "network_ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("network_ports.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("network_subnets.id"), index=True)
    network_id: Mapped[str] = mapped_column(String(64), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))
    ip_order: Mapped[int] = mapped_column(Integer, default=0)

    port: Mapped[Port] = relationship(back_populates="fixed_ips")


class PortSecurityGroup(Base):
    __tablename__ = "network_port_security_groups"

    port_id: Mapped[str] = mapped_column(ForeignKey("network_ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("network_security_groups.id"), primary_key=True,
                                                   index=True)


class Router(StandardAttrs, Base):
    __tablename__ = "network_routers"

    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_network_id: Mapped[str | None] = mapped_column(String(64), default=None)
    gw_port_id: Mapped[str | None] = mapped_column(String(64), default=None)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)
    availability_zone_hints: Mapped[list] = mapped_column(JSON, default=list)


class FloatingIP(StandardAttrs, Base):
    __tablename__ = "network_floatingips"

    floating_network_id: Mapped[str] = mapped_column(String(64), index=True)
    floating_port_id: Mapped[str] = mapped_column(String(64))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    port_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), default=None)
    router_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "network_security_groups"

    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[list[SecurityGroupRule]] = relationship(
        back_populates="group", lazy="selectin", cascade="all, delete-orphan", order_by="SecurityGroupRule.created_at",
        foreign_keys="SecurityGroupRule.security_group_id")


class DefaultSecurityGroup(Base):
    """One row per project: makes the lazy creation of ``default`` race-free."""

    __tablename__ = "network_default_security_groups"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("network_security_groups.id", ondelete="CASCADE"))


class SecurityGroupRule(IdMixin, TimestampMixin, Base):
    __tablename__ = "network_security_group_rules"

    project_id: Mapped[str] = mapped_column(String(64), index=True, default="")
    security_group_id: Mapped[str] = mapped_column(ForeignKey("network_security_groups.id", ondelete="CASCADE"),
                                                   index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(16), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40), default=None)
    port_range_min: Mapped[int | None] = mapped_column(Integer, default=None)
    port_range_max: Mapped[int | None] = mapped_column(Integer, default=None)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), default=None)
    remote_group_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)

    group: Mapped[SecurityGroup] = relationship(back_populates="rules", foreign_keys=[security_group_id],
                                                lazy="select")


class Quota(Base):
    """Per-project overrides set through ``PUT /v2.0/quotas/{project_id}`` (else unified limits)."""

    __tablename__ = "network_quotas"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class QuotaLock(Base):
    """A row per (project, resource) locked FOR UPDATE while counting, so quotas are exact."""

    __tablename__ = "network_quota_locks"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)


class Agent(Base):
    """Network agents seen alive: the VXLAN peers of each other."""

    __tablename__ = "network_agents"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    tunnel_ip: Mapped[str] = mapped_column(String(64), default="")
    dhcp: Mapped[bool] = mapped_column(Boolean, default=False)
    l3: Mapped[bool] = mapped_column(Boolean, default=False)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
