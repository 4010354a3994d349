"""Placement's in-process facade: compute's scheduler and host agents use it (as Nova uses the REST API)."""

from __future__ import annotations

import datetime as dt
import heapq
import random
import threading
import time

from sqlalchemy import select

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.db import utcnow
from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWork, UnitOfWorkFactory

from .model import ResourceProvider
from .service import allocations as alloc_svc
from .service import providers as providers_svc
from .service.allocations import CandidateQuery, ClassState, ProviderState, Summary

__all__ = ["CandidateQuery", "ClassState", "PlacementClient", "ProviderState", "ProviderView", "Summary"]


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
        return self.claim_generations(consumer_id, allocations, project_id, user_id) is not None

    def claim_generations(self, consumer_id: str, allocations: dict[str, dict[str, int]], project_id: str,
                          user_id: str) -> dict[str, int] | None:
        """``claim``, returning the new generation of every provider it changed (None: refused)."""
        try:
            with self.uow(write=True) as uow:
                return alloc_svc.replace_allocations(uow, [alloc_svc.ConsumerAllocations(
                    consumer_id=consumer_id, allocations=allocations, project_id=project_id, user_id=user_id,
                    consumer_type="INSTANCE")])
        except Conflict:
            return None

    def claim_in(self, uow: UnitOfWork, consumer_id: str, allocations: dict[str, dict[str, int]], project_id: str,
                 user_id: str) -> dict[str, int]:
        """``claim_generations`` inside the caller's write unit of work (the scheduler hands the server to
        its host in the same transaction: one write turn per decision).  A refused claim raises
        ``Conflict`` after part of it was written: the caller's unit of work must then roll back."""
        return alloc_svc.replace_allocations(uow, [alloc_svc.ConsumerAllocations(
            consumer_id=consumer_id, allocations=allocations, project_id=project_id, user_id=user_id,
            consumer_type="INSTANCE")])

    def provider_changes(self, known: dict[str, int], changed_since: dt.datetime | None = None,
                         also: tuple[str, ...] = ()) -> tuple[set[str] | None, list[ProviderState]]:
        """The states of the providers whose generation is not the one in ``known``, among those updated
        since ``changed_since`` plus ``also`` (every provider when None), in one read transaction; with
        ``changed_since`` None, also the uuids of every provider (so the caller drops deleted ones).
        Unchanged providers cost one narrow row each, not their usage."""
        with self.uow() as uow:
            if changed_since is None and not known:
                states = alloc_svc.provider_states(uow)
                return {s.uuid for s in states}, states
            generations = alloc_svc.provider_generations(uow, changed_since, also)
            changed = [u for u, gen in generations.items() if known.get(u) != gen]
            states = alloc_svc.provider_states(uow, changed) if changed else []
            return (set(generations) if changed_since is None else None), states

    def view(self) -> ProviderView:
        return ProviderView(self)

    def release(self, consumer_id: str) -> None:
        with self.uow(write=True) as uow:
            alloc_svc.delete_consumer(uow, consumer_id)

    def allocations(self, consumer_id: str) -> dict[str, dict]:
        with self.uow() as uow:
            return alloc_svc.consumer_allocations(uow, consumer_id)

    def delete_provider(self, rp_uuid: str) -> None:
        with self.uow(write=True) as uow:
            providers_svc.delete_provider(uow, rp_uuid)


class ProviderView:
    """An in-memory copy of every provider's capacity and usage, for one scheduler process.

    ``refresh()`` reads the generation of the providers whose row changed recently (every allocation or
    inventory change bumps the provider's generation and ``updated_at``), and capacity and usage only
    of those whose generation is not the one it holds; now and then it compares every provider's
    generation (deleted providers, clock skew).  ``inflight`` counts picks not yet claimed, so concurrent
    decisions in this process see each other; placement's claim stays the only authority.

    ``best()`` ranks by free RAM, then free vCPU (the spreading weighers): a heap keyed on both,
    with an entry pushed whenever a provider changes (older entries of it are skipped), so a
    decision over 1,000 providers looks at a handful of entries instead of all of them.
    """

    FULL_EVERY = 30.0  # seconds between full re-reads (the scheduler forces one at each 10 s resync)
    WINDOW = 2.0  # re-read rows updated this long before the previous refresh (commit delays)
    # decisions in the meantime share a refresh (our own claims count at once; placement's claim decides
    # anyway): at 0.05 s three of four decisions of a 20-server burst re-read, ~15% of their CPU
    MIN_INTERVAL = 0.25

    def __init__(self, client: PlacementClient) -> None:
        self.client = client
        self.lock = threading.RLock()
        self.states: dict[str, ProviderState] = {}
        self.inflight: dict[str, dict[str, int]] = {}
        self._full_at = 0.0
        self._at = 0.0
        self._since: dt.datetime | None = None
        self._refreshing = threading.Lock()
        self._stale: set[str] = set()  # re-read these at the next refresh whatever their updated_at
        self._heap: list[tuple] = []
        self._version: dict[str, int] = {}

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._at < self.MIN_INTERVAL:
            return
        # A decision never waits for another thread's refresh (only the first read and forced ones
        # do): the view is a hint that placement's claim checks, and the refresh under way is newer.
        if not self._refreshing.acquire(blocking=force or not self.states):
            return
        try:
            if force or time.monotonic() - self._at >= self.MIN_INTERVAL:
                self._refresh(force or self._since is None or time.monotonic() - self._full_at > self.FULL_EVERY)
        finally:
            self._refreshing.release()

    def _refresh(self, full: bool) -> None:
        started = utcnow()
        with self.lock:
            stale, self._stale = tuple(self._stale), set()
            known = {u: st.generation for u, st in self.states.items()}
        alive, rows = self.client.provider_changes(known, None if full else self._since, stale)
        with self.lock:
            if alive is not None:  # a full read: forget deleted providers, take every change
                for gone in set(self.states) - alive:
                    del self.states[gone]
                first = not self.states
                for state in rows:
                    self.states[state.uuid] = state
                    if not first:
                        self._touch(state.uuid)
                if first:
                    self._rebuild()
                self._full_at = time.monotonic()
            else:
                for state in rows:
                    have = self.states.get(state.uuid)
                    if have is None or state.generation > have.generation:
                        self.states[state.uuid] = state
                        self._touch(state.uuid)
        self._since = started - dt.timedelta(seconds=self.WINDOW)
        self._at = time.monotonic()

    # -- ranking (call with ``lock`` held) ----------------------------------------------------------

    def _entry(self, rp_uuid: str) -> tuple:
        return (-self.free(rp_uuid, "MEMORY_MB"), -self.free(rp_uuid, "VCPU"), random.random(), rp_uuid,
                self._version.get(rp_uuid, 0))

    def _touch(self, rp_uuid: str) -> None:
        self._version[rp_uuid] = self._version.get(rp_uuid, 0) + 1
        heapq.heappush(self._heap, self._entry(rp_uuid))
        if len(self._heap) > 4 * len(self.states) + 64:
            self._rebuild()

    def _rebuild(self) -> None:
        self._heap = [self._entry(u) for u in self.states]
        heapq.heapify(self._heap)

    def best(self, allowed, resources: dict[str, int], exclude=()) -> str | None:
        """The provider among ``allowed`` (a container of uuids) with the most free RAM, then vCPU,
        that fits ``resources``; None when none does."""
        if len(allowed) * 4 < len(self.states):  # a few candidates (filters, forced host): rank them
            scored = [(self._entry(u), u) for u in allowed if u not in exclude and self.fits(u, resources)]
            return min(scored)[1] if scored else None
        popped, found = [], None
        while self._heap:
            entry = heapq.heappop(self._heap)
            rp_uuid = entry[3]
            if entry[4] != self._version.get(rp_uuid, 0) or rp_uuid not in self.states:
                continue  # superseded by a newer entry of the same provider
            popped.append(entry)
            if rp_uuid in allowed and rp_uuid not in exclude and self.fits(rp_uuid, resources):
                found = rp_uuid
                break
        for entry in popped:
            heapq.heappush(self._heap, entry)
        return found

    def free(self, rp_uuid: str, rc: str) -> int:
        state = self.states[rp_uuid].resources.get(rc)
        if state is None:
            return 0
        return state.capacity - state.used - self.inflight.get(rp_uuid, {}).get(rc, 0)

    def fits(self, rp_uuid: str, resources: dict[str, int]) -> bool:
        state = self.states.get(rp_uuid)
        if state is None:
            return False
        for rc, amount in resources.items():
            inv = state.resources.get(rc)
            if inv is None or amount < inv.min_unit or amount > inv.max_unit or amount % inv.step_size:
                return False
            if self.free(rp_uuid, rc) < amount:
                return False
        return True

    def reserve(self, rp_uuid: str, resources: dict[str, int]) -> None:
        """Count a pick before its claim (call with ``lock`` held)."""
        mine = self.inflight.setdefault(rp_uuid, {})
        for rc, amount in resources.items():
            mine[rc] = mine.get(rc, 0) + amount
        self._touch(rp_uuid)

    def settle(self, rp_uuid: str, resources: dict[str, int], generations: dict[str, int] | None) -> None:
        """The claim of a reserved pick finished: count it as used (when we know the provider's
        exact new state), else re-read the provider at the next refresh."""
        with self.lock:
            mine = self.inflight.get(rp_uuid, {})
            for rc, amount in resources.items():
                mine[rc] = mine.get(rc, 0) - amount
                if mine[rc] <= 0:
                    del mine[rc]
            if not mine:
                self.inflight.pop(rp_uuid, None)
            state = self.states.get(rp_uuid)
            if state is None:
                return
            new = (generations or {}).get(rp_uuid)
            if generations is not None and new == state.generation + 1:
                classes = dict(state.resources)
                for rc, amount in resources.items():
                    c = classes[rc]
                    classes[rc] = ClassState(c.capacity, c.used + amount, c.min_unit, c.max_unit, c.step_size)
                self.states[rp_uuid] = ProviderState(rp_uuid, new, classes)
            else:  # someone else changed it too, or the claim was refused: the next refresh re-reads it
                self.states[rp_uuid] = ProviderState(rp_uuid, -1, state.resources)
                self._stale.add(rp_uuid)
            self._touch(rp_uuid)
