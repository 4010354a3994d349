"""Placement's in-process facade: compute's scheduler and host agents use it (as Nova uses the REST API)."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWorkFactory

from .model import ResourceProvider
from .service import allocations as alloc_svc
from .service import providers as providers_svc
from .service.allocations import CandidateQuery, Summary

__all__ = ["CandidateQuery", "PlacementClient", "Summary"]


class PlacementClient:
    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, bus: Bus) -> None:
        self.settings = settings
        self.uow = uow
        self.bus = bus

    def bootstrap(self) -> None:
        with self.uow(write=True) as uow:
            providers_svc.ensure_standard(uow)

    def ensure_provider(self, rp_uuid: str, name: str, inventories: dict[str, dict],
                        traits: list[str] | None = None) -> None:
        """Idempotent: the provider exists with exactly these inventories (and traits when given)."""
        with self.uow(write=True) as uow:
            rp = uow.session.scalars(select(ResourceProvider).where(ResourceProvider.uuid == rp_uuid)
                                     .with_for_update()).first()
            if rp is None:
                rp = providers_svc.create_provider(uow, name, rp_uuid)
            current = {i.resource_class: i for i in providers_svc.inventories(uow, rp)}
            same = set(current) == set(inventories) and all(
                current[rc].total == inv["total"] and current[rc].reserved == inv.get("reserved", 0)
                and abs(current[rc].allocation_ratio - float(inv.get("allocation_ratio", 1.0))) < 1e-9
                and current[rc].max_unit == inv.get("max_unit", inv["total"])
                for rc, inv in inventories.items())
            if not same:
                providers_svc.set_inventories(uow, rp, inventories)
            if traits is not None and sorted(set(traits)) != providers_svc.provider_traits(uow, rp):
                for trait in traits:
                    if trait.startswith("CUSTOM_"):
                        providers_svc.create_trait(uow, trait)
                providers_svc.set_provider_traits(uow, rp, traits)

    def set_aggregates(self, rp_uuid: str, aggregates: list[str]) -> None:
        with self.uow(write=True) as uow:
            rp = providers_svc.get_provider(uow, rp_uuid, lock=True)
            if providers_svc.provider_aggregates(uow, rp) != sorted(aggregates):
                providers_svc.set_provider_aggregates(uow, rp, aggregates)

    def candidates(self, query: CandidateQuery) -> list[Summary]:
        with self.uow() as uow:
            return alloc_svc.candidates(uow, query)

    def claim(self, consumer_id: str, allocations: dict[str, dict[str, int]], project_id: str,
              user_id: str) -> bool:
        """Atomically replace the consumer's allocations; False when capacity ran out (a claim race)."""
        try:
            with self.uow(write=True) as uow:
                alloc_svc.replace_allocations(uow, [alloc_svc.ConsumerAllocations(
                    consumer_id=consumer_id, allocations=allocations, project_id=project_id, user_id=user_id,
                    consumer_type="INSTANCE")])
        except Conflict:
            return False
        return True

    def release(self, consumer_id: str) -> None:
        with self.uow(write=True) as uow:
            alloc_svc.delete_consumer(uow, consumer_id)

    def allocations(self, consumer_id: str) -> dict[str, dict]:
        with self.uow() as uow:
            return alloc_svc.consumer_allocations(uow, consumer_id)

    def delete_provider(self, rp_uuid: str) -> None:
        with self.uow(write=True) as uow:
            providers_svc.delete_provider(uow, rp_uuid)
