"""Identity tables.  Tokens are never stored: they are Fernet tokens checked against revocations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onestack.core.db import Base, IdMixin, utcnow

# Global roles have no domain; a sentinel keeps (name, domain_id) unique on every backend.
NULL_DOMAIN = "<<null>>"


class Domain(IdMixin, Base):
    __tablename__ = "identity_domain"
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Project(IdMixin, Base):
    __tablename__ = "identity_project"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domain.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("identity_project.id"), default=None, index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    tags: Mapped[list[ProjectTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ProjectTag.name"
    )


class ProjectTag(Base):
    __tablename__ = "identity_project_tag"
    project_id: Mapped[str] = mapped_column(ForeignKey("identity_project.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class User(IdMixin, Base):
    __tablename__ = "identity_user"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domain.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    password_created_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    password_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    failed_auth_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_auth_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_active_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. email, as keystone keeps it
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Group(IdMixin, Base):
    __tablename__ = "identity_group"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domain.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class GroupMembership(Base):
    __tablename__ = "identity_group_membership"
    group_id: Mapped[str] = mapped_column(ForeignKey("identity_group.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Role(IdMixin, Base):
    __tablename__ = "identity_role"
    __table_args__ = (UniqueConstraint("name", "domain_id"),)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), default=NULL_DOMAIN)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class ImpliedRole(Base):
    __tablename__ = "identity_implied_role"
    prior_role_id: Mapped[str] = mapped_column(ForeignKey("identity_role.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(
        ForeignKey("identity_role.id", ondelete="CASCADE"), primary_key=True
    )


# Assignment types, as keystone names them.
USER_PROJECT, GROUP_PROJECT = "UserProject", "GroupProject"
USER_DOMAIN, GROUP_DOMAIN = "UserDomain", "GroupDomain"
USER_SYSTEM, GROUP_SYSTEM = "UserSystem", "GroupSystem"
SYSTEM_ALL = "system"


class Assignment(Base):
    __tablename__ = "identity_assignment"
    __table_args__ = (Index("ix_identity_assignment_target", "target_id"),)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("identity_role.id", ondelete="CASCADE"), primary_key=True)
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False)


class Region(Base):
    __tablename__ = "identity_region"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    parent_region_id: Mapped[str | None] = mapped_column(ForeignKey("identity_region.id"), default=None)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class Service(IdMixin, Base):
    __tablename__ = "identity_service"
    type: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class Endpoint(IdMixin, Base):
    __tablename__ = "identity_endpoint"
    service_id: Mapped[str] = mapped_column(ForeignKey("identity_service.id", ondelete="CASCADE"), index=True)
    interface: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)
    region_id: Mapped[str | None] = mapped_column(ForeignKey("identity_region.id"), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class ApplicationCredential(IdMixin, Base):
    __tablename__ = "identity_application_credential"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    roles: Mapped[list] = mapped_column(JSON, default=list)  # [{"id", "name", "domain_id"}]
    access_rules: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RegisteredLimit(IdMixin, Base):
    __tablename__ = "identity_registered_limit"
    __table_args__ = (UniqueConstraint("service_id", "region_id", "resource_name"),)
    service_id: Mapped[str] = mapped_column(ForeignKey("identity_service.id", ondelete="CASCADE"))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("identity_region.id"), default=None)
    resource_name: Mapped[str] = mapped_column(String(255))
    default_limit: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, default=None)


class Limit(IdMixin, Base):
    __tablename__ = "identity_limit"
    __table_args__ = (UniqueConstraint("project_id", "domain_id", "service_id", "region_id", "resource_name"),)
    project_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    domain_id: Mapped[str | None] = mapped_column(String(64), default=None)
    service_id: Mapped[str] = mapped_column(ForeignKey("identity_service.id", ondelete="CASCADE"))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("identity_region.id"), default=None)
    resource_name: Mapped[str] = mapped_column(String(255))
    resource_limit: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, default=None)


class RevocationEvent(Base):
    """A token matching every non-null field and issued before ``issued_before`` is revoked."""

    __tablename__ = "identity_revocation_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    domain_id: Mapped[str | None] = mapped_column(String(64), default=None)
    audit_id: Mapped[str | None] = mapped_column(String(32), default=None)
    audit_chain_id: Mapped[str | None] = mapped_column(String(32), default=None)
    role_id: Mapped[str | None] = mapped_column(String(64), default=None)
    application_credential_id: Mapped[str | None] = mapped_column(String(64), default=None)
    issued_before: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Generation(Base):
    """One row counting committed identity changes: API processes sharing the database compare it on
    each request to know whether their in-memory caches (validated tokens, lists) are still current."""

    __tablename__ = "identity_generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)
