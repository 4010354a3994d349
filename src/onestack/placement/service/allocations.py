"""Allocations of consumers against providers, usages and allocation candidates.

Writing allocations locks every provider involved (SELECT ... FOR UPDATE; on SQLite the writing unit
of work holds the database lock) and checks capacity against committed usage, so two claims can
never both take the last unit: the loser gets 409 ``placement.concurrent_update``/capacity errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, Conflict
from onestack.core.uow import UnitOfWork

from ..errors import CONCURRENT_UPDATE
from ..model import Allocation, Consumer, Inventory, ProviderAggregate, ProviderTrait, ResourceProvider


class CapacityExceeded(Conflict):
    pass


def consumer_allocations(uow: UnitOfWork, consumer_id: str) -> dict[str, dict]:
    """{rp_uuid: {"generation": g, "resources": {rc: used}}}"""
    out: dict[str, dict] = {}
    rows = uow.session.execute(select(ResourceProvider.uuid, ResourceProvider.generation, Allocation.resource_class,
                                      Allocation.used).join(ResourceProvider,
                                                            ResourceProvider.id == Allocation.provider_id)
                               .where(Allocation.consumer_id == consumer_id))
    for rp_uuid, gen, rc, used in rows:
        out.setdefault(rp_uuid, {"generation": gen, "resources": {}})["resources"][rc] = used
    return out


def provider_allocations(uow: UnitOfWork, rp: ResourceProvider) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in uow.session.scalars(select(Allocation).where(Allocation.provider_id == rp.id)):
        out.setdefault(row.consumer_id, {"resources": {}})["resources"][row.resource_class] = row.used
    return out


def provider_usages(uow: UnitOfWork, rp: ResourceProvider) -> dict[str, int]:
    usages = {i.resource_class: 0 for i in uow.session.scalars(select(Inventory).where(Inventory.provider_id == rp.id))}
    for rc, used in uow.session.execute(select(Allocation.resource_class, func.sum(Allocation.used))
                                        .where(Allocation.provider_id == rp.id).group_by(Allocation.resource_class)):
        usages[rc] = int(used)
    return usages


def project_usages(uow: UnitOfWork, project_id: str, user_id: str | None = None,
                   consumer_type: str | None = None) -> dict:
    query = (select(Consumer.consumer_type, Allocation.resource_class, func.sum(Allocation.used))
             .join(Consumer, Consumer.uuid == Allocation.consumer_id).where(Consumer.project_id == project_id)
             .group_by(Consumer.consumer_type, Allocation.resource_class))
    counts = select(Consumer.consumer_type, func.count(func.distinct(Consumer.uuid))).join(
        Allocation, Allocation.consumer_id == Consumer.uuid).where(Consumer.project_id == project_id).group_by(
        Consumer.consumer_type)
    if user_id:
        query = query.where(Consumer.user_id == user_id)
        counts = counts.where(Consumer.user_id == user_id)
    by_type: dict[str, dict] = {}
    for ctype, rc, used in uow.session.execute(query):
        by_type.setdefault(ctype or "unknown", {})[rc] = int(used)
    for ctype, count in uow.session.execute(counts):
        by_type.setdefault(ctype or "unknown", {})["consumer_count"] = int(count)
    if consumer_type and consumer_type != "all":
        by_type = {k: v for k, v in by_type.items() if k == consumer_type}
    return by_type


@dataclass(frozen=True)
class ConsumerAllocations:
    consumer_id: str
    allocations: dict  # {rp_uuid: {rc: amount}}
    project_id: str
    user_id: str
    consumer_generation: int | None = None
    check_generation: bool = False  # microversion >= 1.28
    consumer_type: str | None = None


def _capacity(inv: Inventory) -> int:
    return int((inv.total - inv.reserved) * inv.allocation_ratio)


_RP_T, _ALLOC_T, _CONSUMER_T, _INV_T = (ResourceProvider.__table__, Allocation.__table__, Consumer.__table__,
                                       Inventory.__table__)
# prebuilt statements (expanding IN lists) on the unit of work's connection: the scheduler's claim and
# the compute agent's release run these once per boot and per delete
_PREVIOUS = select(_ALLOC_T.c.provider_id).where(_ALLOC_T.c.consumer_id.in_(bindparam("consumers", expanding=True)))
_LOCK_PROVIDERS = (select(_RP_T.c.id, _RP_T.c.uuid, _RP_T.c.generation)
                   .where(or_(_RP_T.c.uuid.in_(bindparam("uuids", expanding=True)), _RP_T.c.id.in_(_PREVIOUS)))
                   .order_by(_RP_T.c.id).with_for_update())
_LOCK_PREVIOUS_PROVIDERS = (select(_RP_T.c.id, _RP_T.c.uuid, _RP_T.c.generation).where(_RP_T.c.id.in_(_PREVIOUS))
                            .order_by(_RP_T.c.id).with_for_update())
_LOCK_CONSUMERS = select(_CONSUMER_T.c.uuid, _CONSUMER_T.c.generation).where(
    _CONSUMER_T.c.uuid.in_(bindparam("consumers", expanding=True))).with_for_update()
_INSERT_CONSUMER = insert(_CONSUMER_T)
_DELETE_CONSUMER = delete(_CONSUMER_T).where(_CONSUMER_T.c.uuid == bindparam("consumer"))
_DELETE_ALLOCATIONS = delete(_ALLOC_T).where(_ALLOC_T.c.consumer_id.in_(bindparam("consumers", expanding=True)))
_INSERT_ALLOCATIONS = insert(_ALLOC_T)
_BUMP_PROVIDERS = update(_RP_T).where(_RP_T.c.id.in_(bindparam("ids", expanding=True))).values(
    generation=_RP_T.c.generation + 1, updated_at=bindparam("now"))
_USED = (select(func.coalesce(func.sum(_ALLOC_T.c.used), 0)).where(
    _ALLOC_T.c.provider_id == _INV_T.c.provider_id, _ALLOC_T.c.resource_class == _INV_T.c.resource_class)
    .scalar_subquery())
_INVENTORY_USAGE = select(_INV_T.c.resource_class, _INV_T.c.total, _INV_T.c.reserved, _INV_T.c.allocation_ratio,
                          _INV_T.c.min_unit, _INV_T.c.max_unit, _INV_T.c.step_size, _USED.label("used")).where(
    _INV_T.c.provider_id == bindparam("provider_id"))


def replace_allocations(uow: UnitOfWork, items: list[ConsumerAllocations]) -> dict[str, int]:
    """Set each consumer's allocations to exactly what is given (empty deletes), all or nothing.

    Prebuilt column statements, no ORM objects: this is the scheduler's claim, on the boot path.  Every
    provider whose usage changes (new and previous allocations) is locked in id order, re-checked
    against its inventory and gets a new generation; returns {provider uuid: new generation}.
    """
    conn = uow.session.connection()
    wanted = {rp_uuid for item in items for rp_uuid in item.allocations}
    consumer_ids = [item.consumer_id for item in items]
    # one statement finds and locks (in id order: concurrent claims on MariaDB/PostgreSQL never
    # deadlock) the requested providers and those holding the consumers' current allocations
    if wanted:
        locked = conn.execute(_LOCK_PROVIDERS, {"uuids": sorted(wanted), "consumers": consumer_ids}).all()
    else:
        locked = conn.execute(_LOCK_PREVIOUS_PROVIDERS, {"consumers": consumer_ids}).all()
    ids = {r.uuid: r.id for r in locked if r.uuid in wanted}
    for rp_uuid in sorted(wanted):
        if rp_uuid not in ids:
            raise BadRequest(f"Allocation for resource provider '{rp_uuid}' that does not exist.")
    touched = [r.id for r in locked]
    consumers = {row.uuid: row for row in conn.execute(_LOCK_CONSUMERS, {"consumers": consumer_ids})}
    rows = []
    for item in items:
        have = consumers.get(item.consumer_id)
        if item.check_generation and (have.generation if have else None) != item.consumer_generation:
            raise Conflict(f"consumer generation conflict - expected {have.generation if have else None} but got "
                           f"{item.consumer_generation}", type=CONCURRENT_UPDATE)
        if have is None and item.allocations:
            conn.execute(_INSERT_CONSUMER, {
                "uuid": item.consumer_id, "project_id": item.project_id, "user_id": item.user_id,
                "consumer_type": item.consumer_type, "generation": 0, "created_at": utcnow()})
        elif have is not None and not item.allocations:
            conn.execute(_DELETE_CONSUMER, {"consumer": item.consumer_id})
        elif have is not None:
            values = {"project_id": item.project_id, "user_id": item.user_id, "generation": have.generation + 1}
            if item.consumer_type:
                values["consumer_type"] = item.consumer_type
            conn.execute(update(_CONSUMER_T).where(_CONSUMER_T.c.uuid == item.consumer_id).values(**values))
        rows += [{"provider_id": ids[rp_uuid], "consumer_id": item.consumer_id, "resource_class": rc,
                  "used": int(amount)} for rp_uuid, resources in item.allocations.items()
                 for rc, amount in resources.items()]
    if consumers:  # allocations exist only for existing consumers
        conn.execute(_DELETE_ALLOCATIONS, {"consumers": consumer_ids})
    if rows:
        conn.execute(_INSERT_ALLOCATIONS, rows)
    requested: dict[int, dict[str, list[int]]] = {}
    for row in rows:
        requested.setdefault(row["provider_id"], {}).setdefault(row["resource_class"], []).append(row["used"])
    by_id = {v: k for k, v in ids.items()}
    for rp_id, classes in requested.items():
        _check_capacity(uow, rp_id, by_id[rp_id], classes)
    if not touched:
        return {}
    conn.execute(_BUMP_PROVIDERS, {"ids": touched, "now": utcnow()})
    return {r.uuid: r.generation + 1 for r in locked}  # exact: the rows are locked


def _check_capacity(uow: UnitOfWork, rp_id: int, rp_uuid: str, requested: dict[str, list[int]]) -> None:
    """After writing: the provider's total usage of each class fits its capacity, and each requested
    amount its unit constraints (one statement: inventories with their summed usage)."""
    invs = {row.resource_class: row for row in uow.session.connection().execute(
        _INVENTORY_USAGE, {"provider_id": rp_id})}
    for rc, amounts in sorted(requested.items()):
        inv = invs.get(rc)
        if inv is None:
            raise CapacityExceeded(f"Unable to allocate inventory: Inventory for '{rc}' on resource provider "
                                   f"'{rp_uuid}' invalid.")
        if inv.used > int((inv.total - inv.reserved) * inv.allocation_ratio):
            raise CapacityExceeded(f"Unable to allocate inventory: Unable to create allocation for '{rc}' on "
                                   f"resource provider '{rp_uuid}'. The requested amount would exceed the capacity.")
        if any(a < inv.min_unit or a > inv.max_unit or a % inv.step_size for a in amounts):
            raise CapacityExceeded(f"Unable to allocate inventory: Unable to create allocation for '{rc}' on "
                                   f"resource provider '{rp_uuid}'. The requested amount would violate inventory "
                                   f"constraints.")


def delete_consumer(uow: UnitOfWork, consumer_id: str) -> bool:
    return bool(replace_allocations(uow, [ConsumerAllocations(consumer_id, {}, "", "")]))


def consumer(uow: UnitOfWork, consumer_id: str) -> Consumer | None:
    return uow.session.get(Consumer, consumer_id)


# -- allocation candidates --------------------------------------------------------------------------


def providers_with_capacity(uow: UnitOfWork, resources: dict[str, int]) -> set[int]:
    """Provider ids whose inventories can each take the requested amount now."""
    chosen: set[int] | None = None
    for rc, amount in resources.items():
        used = (select(Allocation.provider_id, func.sum(Allocation.used).label("used"))
                .where(Allocation.resource_class == rc).group_by(Allocation.provider_id).subquery())
        query = (select(Inventory.provider_id).outerjoin(used, used.c.provider_id == Inventory.provider_id)
                 .where(and_(Inventory.resource_class == rc, Inventory.min_unit <= amount,
                             Inventory.max_unit >= amount,
                             (Inventory.total - Inventory.reserved) * Inventory.allocation_ratio
                             - func.coalesce(used.c.used, 0) >= amount)))
        ids = set(uow.session.scalars(query))
        chosen = ids if chosen is None else chosen & ids
        if not chosen:
            return set()
    return chosen or set()


@dataclass(frozen=True)
class CandidateQuery:
    resources: dict[str, int]
    required: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    member_of: tuple[tuple[str, ...], ...] = ()
    forbidden_aggregates: tuple[str, ...] = ()
    in_tree: str | None = None
    limit: int | None = None
    providers: tuple[str, ...] | None = None  # only these provider uuids (the scheduler's filters)
    most_free: str | None = None  # order by most free units of this class first (the scheduler's weigher)


@dataclass(frozen=True)
class Summary:
    uuid: str
    parent_provider_uuid: str | None
    root_provider_uuid: str
    resources: dict  # {rc: {"capacity": c, "used": u}}
    traits: tuple[str, ...]


def candidates(uow: UnitOfWork, q: CandidateQuery) -> list[Summary]:
    """Single-provider candidates in one SQL statement (column reads only, no ORM objects): every
    requested class must fit the provider's free capacity and unit constraints."""
    if not q.resources:
        return []
    rp = ResourceProvider.__table__
    inv_t = Inventory.__table__
    alloc_t = Allocation.__table__
    query = select(rp.c.id, rp.c.uuid, rp.c.parent_provider_uuid, rp.c.root_provider_uuid)
    free_cols = {}
    for i, (rc, amount) in enumerate(sorted(q.resources.items())):
        inv = inv_t.alias(f"inv{i}")
        used = (select(alloc_t.c.provider_id, func.sum(alloc_t.c.used).label("used"))
                .where(alloc_t.c.resource_class == rc).group_by(alloc_t.c.provider_id).subquery(f"used{i}"))
        free = (inv.c.total - inv.c.reserved) * inv.c.allocation_ratio - func.coalesce(used.c.used, 0)
        query = (query.join(inv, and_(inv.c.provider_id == rp.c.id, inv.c.resource_class == rc))
                 .outerjoin(used, used.c.provider_id == rp.c.id)
                 .where(free >= amount, inv.c.min_unit <= amount, inv.c.max_unit >= amount,
                        (amount % inv.c.step_size) == 0))
        free_cols[rc] = free
    if q.providers is not None:
        query = query.where(rp.c.uuid.in_(q.providers))
    pt = ProviderTrait.__table__
    pa = ProviderAggregate.__table__
    for trait in q.required:
        query = query.where(rp.c.id.in_(select(pt.c.provider_id).where(pt.c.trait == trait)))
    for trait in q.forbidden:
        query = query.where(rp.c.id.not_in(select(pt.c.provider_id).where(pt.c.trait == trait)))
    for any_of in q.member_of:
        query = query.where(rp.c.id.in_(select(pa.c.provider_id).where(pa.c.aggregate.in_(any_of))))
    if q.forbidden_aggregates:
        query = query.where(rp.c.id.not_in(select(pa.c.provider_id).where(pa.c.aggregate.in_(
            q.forbidden_aggregates))))
    if q.in_tree:
        root = uow.session.scalar(select(rp.c.root_provider_uuid).where(rp.c.uuid == q.in_tree))
        query = query.where(rp.c.root_provider_uuid == (root or "-"))
    if q.most_free and q.most_free in free_cols:
        query = query.order_by(free_cols[q.most_free].desc(), rp.c.id)
    else:
        query = query.order_by(rp.c.id)
    if q.limit:
        query = query.limit(q.limit)
    rows = list(uow.session.execute(query))
    if not rows:
        return []
    rp_ids = [r.id for r in rows]
    invs: dict[int, dict] = {}
    for pid, rc, total, reserved, ratio in uow.session.execute(
            select(inv_t.c.provider_id, inv_t.c.resource_class, inv_t.c.total, inv_t.c.reserved,
                   inv_t.c.allocation_ratio).where(inv_t.c.provider_id.in_(rp_ids))):
        invs.setdefault(pid, {})[rc] = {"capacity": int((total - reserved) * ratio), "used": 0}
    for pid, rc, used in uow.session.execute(
            select(alloc_t.c.provider_id, alloc_t.c.resource_class, func.sum(alloc_t.c.used))
            .where(alloc_t.c.provider_id.in_(rp_ids)).group_by(alloc_t.c.provider_id, alloc_t.c.resource_class)):
        if rc in invs.get(pid, {}):
            invs[pid][rc]["used"] = int(used)
    traits: dict[int, list[str]] = {}
    for pid, trait in uow.session.execute(select(pt.c.provider_id, pt.c.trait).where(pt.c.provider_id.in_(rp_ids))):
        traits.setdefault(pid, []).append(trait)
    return [Summary(r.uuid, r.parent_provider_uuid, r.root_provider_uuid, invs.get(r.id, {}),
                    tuple(sorted(traits.get(r.id, ())))) for r in rows]


# -- provider states (the scheduler's in-memory view) -----------------------------------------------


@dataclass(frozen=True)
class ClassState:
    capacity: int
    used: int
    min_unit: int
    max_unit: int
    step_size: int


@dataclass(frozen=True)
class ProviderState:
    uuid: str
    generation: int
    resources: dict[str, ClassState]


def provider_generations(uow: UnitOfWork, changed_since=None, also: tuple[str, ...] = ()) -> dict[str, int]:
    """{uuid: generation} of every provider (or of those updated since ``changed_since``, plus ``also``):
    one narrow statement, so a view that is up to date learns it without reading any usage."""
    rp_t = ResourceProvider.__table__
    query = select(rp_t.c.uuid, rp_t.c.generation)
    if changed_since is not None:
        query = query.where(or_(rp_t.c.updated_at >= changed_since, rp_t.c.uuid.in_(also)) if also
                            else rp_t.c.updated_at >= changed_since)
    return {rp_uuid: gen for rp_uuid, gen in uow.session.execute(query)}


def provider_states(uow: UnitOfWork, uuids=None) -> list[ProviderState]:
    """Every provider (or those in ``uuids``) with each inventory's capacity and usage, in one statement
    (usage by a correlated sum over the provider's allocations)."""
    rp_t, inv_t, alloc_t = ResourceProvider.__table__, Inventory.__table__, Allocation.__table__
    used = (select(func.coalesce(func.sum(alloc_t.c.used), 0)).where(
        alloc_t.c.provider_id == inv_t.c.provider_id, alloc_t.c.resource_class == inv_t.c.resource_class)
        .scalar_subquery())
    query = (select(rp_t.c.uuid, rp_t.c.generation, inv_t.c.resource_class, inv_t.c.total, inv_t.c.reserved,
                    inv_t.c.allocation_ratio, inv_t.c.min_unit, inv_t.c.max_unit, inv_t.c.step_size,
                    used.label("used"))
             .select_from(rp_t).outerjoin(inv_t, inv_t.c.provider_id == rp_t.c.id))
    if uuids is not None:
        query = query.where(rp_t.c.uuid.in_(sorted(uuids)))
    out: dict[str, tuple[int, dict]] = {}
    for r in uow.session.execute(query):
        _, classes = out.setdefault(r.uuid, (r.generation, {}))
        if r.resource_class is not None:
            classes[r.resource_class] = ClassState(int((r.total - r.reserved) * r.allocation_ratio), int(r.used),
                                                   r.min_unit, r.max_unit, r.step_size)
    return [ProviderState(uuid, gen, classes) for uuid, (gen, classes) in out.items()]
