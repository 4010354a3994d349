"""Placement tables: resource providers with inventories, traits and aggregates; consumers' allocations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onestack.core.db import Base, utcnow


class ResourceProvider(Base):
    __tablename__ = "placement_resource_providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    parent_provider_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    root_provider_uuid: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Inventory(Base):
    __tablename__ = "placement_inventories"
    __table_args__ = (UniqueConstraint("provider_id", "resource_class"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("placement_resource_providers.id", ondelete="CASCADE"),
                                             index=True)
    resource_class: Mapped[str] = mapped_column(String(255))
    total: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    min_unit: Mapped[int] = mapped_column(Integer, default=1)
    max_unit: Mapped[int] = mapped_column(Integer)
    step_size: Mapped[int] = mapped_column(Integer, default=1)
    allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)


class Consumer(Base):
    __tablename__ = "placement_consumers"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    consumer_type: Mapped[str | None] = mapped_column(String(255), default=None)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Allocation(Base):
    __tablename__ = "placement_allocations"
    __table_args__ = (UniqueConstraint("consumer_id", "provider_id", "resource_class"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("placement_resource_providers.id", ondelete="CASCADE"),
                                             index=True)
    consumer_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_class: Mapped[str] = mapped_column(String(255))
    used: Mapped[int] = mapped_column(Integer)


class ResourceClass(Base):
    __tablename__ = "placement_resource_classes"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class Trait(Base):
    __tablename__ = "placement_traits"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class ProviderTrait(Base):
    __tablename__ = "placement_provider_traits"
    provider_id: Mapped[int] = mapped_column(ForeignKey("placement_resource_providers.id", ondelete="CASCADE"),
                                             primary_key=True)
    trait: Mapped[str] = mapped_column(ForeignKey("placement_traits.name", ondelete="CASCADE"), primary_key=True,
                                       index=True)


class ProviderAggregate(Base):
    __tablename__ = "placement_provider_aggregates"
    provider_id: Mapped[int] = mapped_column(ForeignKey("placement_resource_providers.id", ondelete="CASCADE"),
                                             primary_key=True)
    aggregate: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
