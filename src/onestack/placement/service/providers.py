"""Resource providers, their inventories, traits and aggregates; resource classes and traits."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..errors import CONCURRENT_UPDATE, DUPLICATE_NAME, INVENTORY_INUSE
from ..model import Allocation, Inventory, ProviderAggregate, ProviderTrait, ResourceClass, ResourceProvider, Trait

STANDARD_CLASSES = (
    "VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET", "NUMA_CORE", "NUMA_THREAD",
    "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU", "VGPU_DISPLAY_HEAD", "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC", "PCPU", "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC", "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
)
STANDARD_TRAITS = (
    "COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_QCOW2",
    "COMPUTE_IMAGE_TYPE_ISO", "COMPUTE_VOLUME_ATTACH", "COMPUTE_VOLUME_EXTEND", "COMPUTE_VOLUME_MULTI_ATTACH",
    "COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG", "COMPUTE_DEVICE_TAGGING",
    "COMPUTE_TRUSTED_CERTS", "COMPUTE_RESCUE_BFV", "COMPUTE_ACCELERATORS", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY",
    "COMPUTE_GRAPHICS_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_ARCH_X86_64",
    "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2", "HW_CPU_X86_SSE42",
    "HW_CPU_X86_VMX", "HW_CPU_X86_SVM", "HW_CPU_HYPERTHREADING", "HW_NIC_SRIOV", "HW_GPU_API_VULKAN",
    "STORAGE_DISK_HDD", "STORAGE_DISK_SSD", "MISC_SHARES_VIA_AGGREGATE", "HW_ARCH_X86_64",
)


def _uuid(value: str, what: str = "uuid") -> str:
    try:
        return str(uuidlib.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise BadRequest(f"Malformed {what}: {value!r}") from None


def get_provider(uow: UnitOfWork, rp_uuid: str, lock: bool = False) -> ResourceProvider:
    query = select(ResourceProvider).where(ResourceProvider.uuid == rp_uuid)
    row = uow.session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"No resource provider with uuid {rp_uuid} found")
    return row


def check_generation(rp: ResourceProvider, generation: int | None) -> None:
    if generation is None:
        raise BadRequest("JSON does not validate: 'resource_provider_generation' is a required property")
    if generation != rp.generation:
        raise Conflict(f"resource provider generation conflict: resource provider {rp.uuid} has generation "
                       f"{rp.generation}, request has {generation}", type=CONCURRENT_UPDATE)


def bump(rp: ResourceProvider) -> None:
    rp.generation += 1


@dataclass(frozen=True)
class ProviderFilter:
    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    member_of: tuple[tuple[str, ...], ...] = ()  # each inner tuple: "any of"
    resources: dict | None = None
    required: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


def list_providers(uow: UnitOfWork, flt: ProviderFilter) -> list[ResourceProvider]:
    query = select(ResourceProvider).order_by(ResourceProvider.id)
    if flt.name:
        query = query.where(ResourceProvider.name == flt.name)
    if flt.uuid:
        query = query.where(ResourceProvider.uuid == flt.uuid)
    if flt.in_tree:
        root = uow.session.scalar(select(ResourceProvider.root_provider_uuid)
                                  .where(ResourceProvider.uuid == flt.in_tree))
        query = query.where(ResourceProvider.root_provider_uuid == (root or "-"))
    for any_of in flt.member_of:
        query = query.where(ResourceProvider.id.in_(
            select(ProviderAggregate.provider_id).where(ProviderAggregate.aggregate.in_(any_of))))
    for trait in flt.required:
        query = query.where(ResourceProvider.id.in_(
            select(ProviderTrait.provider_id).where(ProviderTrait.trait == trait)))
    for trait in flt.forbidden:
        query = query.where(ResourceProvider.id.not_in(
            select(ProviderTrait.provider_id).where(ProviderTrait.trait == trait)))
    rows = list(uow.session.scalars(query))
    if flt.resources:
        from .allocations import providers_with_capacity

        fits = providers_with_capacity(uow, flt.resources)
        rows = [r for r in rows if r.id in fits]
    return rows


def create_provider(uow: UnitOfWork, name: str, rp_uuid: str | None = None,
                    parent_uuid: str | None = None) -> ResourceProvider:
    rp_uuid = _uuid(rp_uuid) if rp_uuid else str(uuidlib.uuid4())
    if uow.session.scalars(select(ResourceProvider).where(ResourceProvider.uuid == rp_uuid)).first():
        raise Conflict(f"Conflicting resource provider uuid: {rp_uuid} already exists.", type=DUPLICATE_NAME)
    if uow.session.scalars(select(ResourceProvider).where(ResourceProvider.name == name)).first():
        raise Conflict(f"Conflicting resource provider name: {name} already exists.", type=DUPLICATE_NAME)
    root = rp_uuid
    if parent_uuid:
        try:
            parent = get_provider(uow, parent_uuid)
        except NotFound:
            raise BadRequest(f"parent provider UUID {parent_uuid} does not exist") from None
        root = parent.root_provider_uuid
    row = ResourceProvider(uuid=rp_uuid, name=name, parent_provider_uuid=parent_uuid, root_provider_uuid=root,
                           generation=0)
    uow.session.add(row)
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError:
        raise Conflict(f"Conflicting resource provider name: {name} already exists.", type=DUPLICATE_NAME) from None
    return row


def update_provider(uow: UnitOfWork, rp_uuid: str, name: str, parent_uuid: str | None,
                    parent_given: bool) -> ResourceProvider:
    rp = get_provider(uow, rp_uuid, lock=True)
    if name != rp.name and uow.session.scalars(select(ResourceProvider).where(ResourceProvider.name == name)).first():
        raise Conflict(f"Conflicting resource provider name: {name} already exists.", type=DUPLICATE_NAME)
    if parent_given and parent_uuid != rp.parent_provider_uuid:
        if rp.parent_provider_uuid is not None and parent_uuid is None:
            raise BadRequest("Un-parenting a provider is not allowed.")
        if parent_uuid is not None:
            parent = get_provider(uow, parent_uuid)
            if parent.root_provider_uuid == rp.uuid:
                raise BadRequest("creating loop in the provider tree is not allowed.")
            rp.parent_provider_uuid = parent_uuid
            rp.root_provider_uuid = parent.root_provider_uuid
    rp.name = name
    bump(rp)
    return rp


def delete_provider(uow: UnitOfWork, rp_uuid: str) -> None:
    rp = get_provider(uow, rp_uuid, lock=True)
    if uow.session.scalars(select(Allocation.id).where(Allocation.provider_id == rp.id)).first():
        raise Conflict(f"Unable to delete resource provider {rp_uuid}: Resource provider has allocations.")
    if uow.session.scalars(select(ResourceProvider.id).where(ResourceProvider.parent_provider_uuid == rp_uuid)).first():
        raise Conflict(f"Unable to delete parent resource provider {rp_uuid}: It has child resource providers.")
    uow.session.delete(rp)


# -- inventories ------------------------------------------------------------------------------------


def inventories(uow: UnitOfWork, rp: ResourceProvider) -> list[Inventory]:
    return list(uow.session.scalars(select(Inventory).where(Inventory.provider_id == rp.id)
                                    .order_by(Inventory.resource_class)))


def _check_class(uow: UnitOfWork, name: str) -> None:
    if name not in STANDARD_CLASSES and uow.session.get(ResourceClass, name) is None:
        raise BadRequest(f"Unknown resource class in inventory for resource provider: {name}")


def _apply_inventory(row: Inventory, values: dict) -> None:
    row.total = int(values["total"])
    row.reserved = int(values.get("reserved", 0))
    row.min_unit = int(values.get("min_unit", 1))
    row.max_unit = int(values.get("max_unit", row.total))
    row.step_size = int(values.get("step_size", 1))
    row.allocation_ratio = float(values.get("allocation_ratio", 1.0))
    if row.reserved > row.total:
        raise BadRequest(f"Unable to update inventory for resource provider: reserved {row.reserved} is greater "
                         f"than total {row.total} for {row.resource_class}")
    if row.min_unit > row.max_unit:
        raise BadRequest("Unable to update inventory: min_unit is greater than max_unit")


def _used(uow: UnitOfWork, rp: ResourceProvider) -> dict[str, int]:
    rows = uow.session.execute(select(Allocation.resource_class, func.sum(Allocation.used))
                               .where(Allocation.provider_id == rp.id).group_by(Allocation.resource_class))
    return {rc: int(used) for rc, used in rows}


def set_inventories(uow: UnitOfWork, rp: ResourceProvider, values: dict[str, dict]) -> list[Inventory]:
    """Replace all inventories (PUT .../inventories); the caller checked the generation."""
    existing = {i.resource_class: i for i in inventories(uow, rp)}
    used = _used(uow, rp)
    for rc in set(existing) - set(values):
        if used.get(rc):
            raise Conflict(f"Inventory for '{rc}' on resource provider '{rp.uuid}' in use.", type=INVENTORY_INUSE)
        uow.session.delete(existing[rc])
    for rc, inv in values.items():
        _check_class(uow, rc)
        row = existing.get(rc) or Inventory(provider_id=rp.id, resource_class=rc)
        _apply_inventory(row, inv)
        if rc not in existing:
            uow.session.add(row)
    bump(rp)
    uow.session.flush()
    return inventories(uow, rp)


def set_inventory(uow: UnitOfWork, rp: ResourceProvider, rc: str, values: dict, create: bool) -> Inventory:
    _check_class(uow, rc)
    row = uow.session.scalars(select(Inventory).where(Inventory.provider_id == rp.id,
                                                      Inventory.resource_class == rc)).first()
    if create and row is not None:
        raise Conflict(f"Update conflict: Inventory for {rc} on resource provider {rp.uuid} already exists.")
    if not create and row is None:
        raise BadRequest(f"No inventory record with resource class for resource provider {rp.uuid}")
    row = row or Inventory(provider_id=rp.id, resource_class=rc)
    _apply_inventory(row, values)
    uow.session.add(row)
    bump(rp)
    uow.session.flush()
    return row


def delete_inventory(uow: UnitOfWork, rp: ResourceProvider, rc: str) -> None:
    row = uow.session.scalars(select(Inventory).where(Inventory.provider_id == rp.id,
                                                      Inventory.resource_class == rc)).first()
    if row is None:
        raise NotFound(f"No inventory of class {rc} found for delete")
    if _used(uow, rp).get(rc):
        raise Conflict(f"Inventory for '{rc}' on resource provider '{rp.uuid}' in use.", type=INVENTORY_INUSE)
    uow.session.delete(row)
    bump(rp)


def delete_inventories(uow: UnitOfWork, rp: ResourceProvider) -> None:
    set_inventories(uow, rp, {})


# -- traits -----------------------------------------------------------------------------------------


def ensure_standard(uow: UnitOfWork) -> None:
    have = set(uow.session.scalars(select(Trait.name)))
    for name in STANDARD_TRAITS:
        if name not in have:
            uow.session.add(Trait(name=name))


def list_traits(uow: UnitOfWork, name_filter: str | None = None, associated: bool | None = None) -> list[str]:
    query = select(Trait.name).order_by(Trait.name)
    if name_filter:
        kind, _, value = name_filter.partition(":")
        if kind == "in":
            query = query.where(Trait.name.in_([v for v in value.split(",") if v]))
        elif kind == "startswith":
            query = query.where(Trait.name.startswith(value))
        else:
            raise BadRequest(f"Badly formatted name parameter. Expected name query string parameter in form: "
                             f"?name=[in|startswith]:[name1,name2|prefix]. Got: \"{name_filter}\"")
    if associated is not None:
        sub = select(ProviderTrait.trait)
        query = query.where(Trait.name.in_(sub) if associated else Trait.name.not_in(sub))
    return list(uow.session.scalars(query))


def trait_exists(uow: UnitOfWork, name: str) -> bool:
    return uow.session.get(Trait, name) is not None


def create_trait(uow: UnitOfWork, name: str) -> bool:
    if not name.startswith("CUSTOM_"):
        raise BadRequest(f"The trait {name} does not start with CUSTOM_: custom traits must.")
    if trait_exists(uow, name):
        return False
    uow.session.add(Trait(name=name))
    uow.session.flush()
    return True


def delete_trait(uow: UnitOfWork, name: str) -> None:
    row = uow.session.get(Trait, name)
    if row is None:
        raise NotFound(f"No such trait(s): {name}")
    if not name.startswith("CUSTOM_"):
        raise BadRequest(f"Cannot delete standard trait {name}.")
    if uow.session.scalars(select(ProviderTrait).where(ProviderTrait.trait == name)).first():
        raise Conflict(f"The trait {name} is in use by a resource provider.")
    uow.session.delete(row)


def provider_traits(uow: UnitOfWork, rp: ResourceProvider) -> list[str]:
    return list(uow.session.scalars(select(ProviderTrait.trait).where(ProviderTrait.provider_id == rp.id)
                                    .order_by(ProviderTrait.trait)))


def set_provider_traits(uow: UnitOfWork, rp: ResourceProvider, traits: list[str]) -> list[str]:
    missing = [t for t in traits if not trait_exists(uow, t)]
    if missing:
        raise BadRequest(f"No such trait(s): {', '.join(sorted(missing))}")
    for row in uow.session.scalars(select(ProviderTrait).where(ProviderTrait.provider_id == rp.id)):
        uow.session.delete(row)
    uow.session.flush()
    for name in sorted(set(traits)):
        uow.session.add(ProviderTrait(provider_id=rp.id, trait=name))
    bump(rp)
    uow.session.flush()
    return sorted(set(traits))


# -- aggregates -------------------------------------------------------------------------------------


def provider_aggregates(uow: UnitOfWork, rp: ResourceProvider) -> list[str]:
    return list(uow.session.scalars(select(ProviderAggregate.aggregate).where(ProviderAggregate.provider_id == rp.id)
                                    .order_by(ProviderAggregate.aggregate)))


def set_provider_aggregates(uow: UnitOfWork, rp: ResourceProvider, aggregates: list[str]) -> list[str]:
    aggregates = sorted({_uuid(a, "aggregate uuid") for a in aggregates})
    for row in uow.session.scalars(select(ProviderAggregate).where(ProviderAggregate.provider_id == rp.id)):
        uow.session.delete(row)
    uow.session.flush()
    for agg in aggregates:
        uow.session.add(ProviderAggregate(provider_id=rp.id, aggregate=agg))
    bump(rp)
    uow.session.flush()
    return aggregates


# -- resource classes -------------------------------------------------------------------------------


def list_classes(uow: UnitOfWork) -> list[str]:
    return list(STANDARD_CLASSES) + list(uow.session.scalars(select(ResourceClass.name).order_by(ResourceClass.name)))


def class_exists(uow: UnitOfWork, name: str) -> bool:
    return name in STANDARD_CLASSES or uow.session.get(ResourceClass, name) is not None


def create_class(uow: UnitOfWork, name: str, exist_ok: bool = False) -> bool:
    if not name.startswith("CUSTOM_"):
        raise BadRequest(f"Invalid resource class name {name}: custom resource classes must start with CUSTOM_.")
    if class_exists(uow, name):
        if exist_ok:
            return False
        raise Conflict(f"Conflicting resource class already exists: {name}", type=DUPLICATE_NAME)
    uow.session.add(ResourceClass(name=name))
    uow.session.flush()
    return True


def delete_class(uow: UnitOfWork, name: str) -> None:
    if name in STANDARD_CLASSES:
        raise BadRequest(f"Cannot delete standard resource class {name}: Standard resource classes can not be "
                         "deleted.")
    row = uow.session.get(ResourceClass, name)
    if row is None:
        raise NotFound(f"No such resource class {name}.")
    if uow.session.scalars(select(Inventory.id).where(Inventory.resource_class == name)).first():
        raise Conflict(f"Unable to delete resource class {name}. Class is in use in inventory.")
    uow.session.delete(row)
