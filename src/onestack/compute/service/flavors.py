"""Flavors: sizes of servers, public or shared with projects, with extra specs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..model import Flavor, FlavorAccess
from .common import flush_unique

# Created at bootstrap (ids as devstack/nova's historical defaults); c1.tiny suits containers. Each has a root
# disk: a member may not boot an image on a zero-disk flavor (Nova's servers:create:zero_disk_flavor).
DEFAULT_FLAVORS = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("42", "m1.nano", 128, 1, 1),
    ("c1", "c1.tiny", 64, 1, 1),
)


@dataclass(frozen=True)
class CreateFlavor:
    name: str
    ram: int
    vcpus: int
    disk: int
    id: str | None = None
    swap: int = 0
    ephemeral: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    description: str | None = None


def get_flavor(uow: UnitOfWork, flavor_id: str, project_id: str | None = None, admin: bool = True) -> Flavor:
    row = uow.session.get(Flavor, flavor_id)
    if row is None or (not admin and not row.is_public and not _has_access(uow, flavor_id, project_id)):
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return row


_BOOT_FLAVOR = select(Flavor.id, Flavor.name, Flavor.vcpus, Flavor.memory_mb, Flavor.root_gb, Flavor.ephemeral_gb,
                      Flavor.swap, Flavor.extra_specs, Flavor.disabled, Flavor.is_public).where(
    Flavor.id == bindparam("flavor_id"))


def boot_flavor(uow: UnitOfWork, flavor_id: str, project_id: str | None = None, admin: bool = True):
    """``get_flavor`` for a server create: a row of the columns a boot reads (one prebuilt statement on
    the unit of work's connection, no ORM object)."""
    row = uow.session.connection().execute(_BOOT_FLAVOR, {"flavor_id": flavor_id}).first()
    if row is None or (not admin and not row.is_public and not _has_access(uow, flavor_id, project_id)):
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return row


def _has_access(uow: UnitOfWork, flavor_id: str, project_id: str | None) -> bool:
    return project_id is not None and uow.session.scalars(select(FlavorAccess).where(
        FlavorAccess.flavor_id == flavor_id, FlavorAccess.project_id == project_id)).first() is not None


SORT_KEYS = {"flavorid": Flavor.id, "id": Flavor.id, "name": Flavor.name, "memory_mb": Flavor.memory_mb,
             "vcpus": Flavor.vcpus, "root_gb": Flavor.root_gb, "swap": Flavor.swap,
             "ephemeral_gb": Flavor.ephemeral_gb, "rxtx_factor": Flavor.rxtx_factor,
             "created_at": Flavor.created_at, "updated_at": Flavor.updated_at, "description": Flavor.description,
             "disabled": Flavor.disabled, "is_public": Flavor.is_public}


def list_flavors(uow: UnitOfWork, *, project_id: str | None, admin: bool, is_public: bool | None = True,
                 min_ram: int | None = None, min_disk: int | None = None, sort_key: str = "flavorid",
                 sort_dir: str = "asc") -> list[Flavor]:
    if sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort_key: {sort_key}")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort_dir: {sort_dir}")
    column = SORT_KEYS[sort_key]
    query = select(Flavor).where(Flavor.disabled.is_(False))
    query = query.order_by(column.desc() if sort_dir == "desc" else column.asc(), Flavor.id.asc())
    if min_ram is not None:
        query = query.where(Flavor.memory_mb >= min_ram)
    if min_disk is not None:
        query = query.where(Flavor.root_gb >= min_disk)
    if admin:
        if is_public is not None:
            query = query.where(Flavor.is_public.is_(is_public))
    else:
        shared = select(FlavorAccess.flavor_id).where(FlavorAccess.project_id == project_id)
        query = query.where(Flavor.is_public.is_(True) | Flavor.id.in_(shared))
    return list(uow.session.scalars(query))


def create_flavor(uow: UnitOfWork, cmd: CreateFlavor) -> Flavor:
    flavor_id = cmd.id if cmd.id not in (None, "", "auto") else str(uuid.uuid4())
    if uow.session.get(Flavor, flavor_id) is not None:
        raise Conflict(f"Flavor with ID {flavor_id} already exists.")
    if uow.session.scalars(select(Flavor).where(Flavor.name == cmd.name)).first() is not None:
        raise Conflict(f"Flavor with name {cmd.name} already exists.")
    row = Flavor(id=flavor_id, name=cmd.name, memory_mb=cmd.ram, vcpus=cmd.vcpus, root_gb=cmd.disk,
                 swap=cmd.swap, ephemeral_gb=cmd.ephemeral, rxtx_factor=cmd.rxtx_factor, is_public=cmd.is_public,
                 description=cmd.description, extra_specs={})
    uow.session.add(row)
    flush_unique(uow, f"Flavor with name {cmd.name} already exists.")
    return row


def update_flavor(uow: UnitOfWork, flavor_id: str, description: str | None) -> Flavor:
    row = get_flavor(uow, flavor_id)
    row.description = description
    return row


def delete_flavor(uow: UnitOfWork, flavor_id: str) -> None:
    uow.session.delete(get_flavor(uow, flavor_id))


def ensure_default_flavors(uow: UnitOfWork) -> None:
    old = uow.session.get(Flavor, "c1")  # an earlier bootstrap's c1.tiny had no disk: members could not boot it
    if old is not None and (old.name, old.memory_mb, old.vcpus, old.root_gb) == ("c1.tiny", 64, 1, 0):
        old.root_gb = 1
    for flavor_id, name, ram, vcpus, disk in DEFAULT_FLAVORS:
        if uow.session.get(Flavor, flavor_id) is None and uow.session.scalars(
                select(Flavor).where(Flavor.name == name)).first() is None:
            uow.session.add(Flavor(id=flavor_id, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk,
                                   extra_specs={}))


# -- extra specs ----------------------------------------------------------------------------------


def set_extra_specs(uow: UnitOfWork, flavor_id: str, specs: dict[str, str]) -> dict:
    row = get_flavor(uow, flavor_id)
    row.extra_specs = {**(row.extra_specs or {}), **{k: str(v) for k, v in specs.items()}}
    return row.extra_specs


def delete_extra_spec(uow: UnitOfWork, flavor_id: str, key: str) -> None:
    row = get_flavor(uow, flavor_id)
    specs = dict(row.extra_specs or {})
    if key not in specs:
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    del specs[key]
    row.extra_specs = specs


# -- access ---------------------------------------------------------------------------------------


def list_access(uow: UnitOfWork, flavor_id: str) -> list[FlavorAccess]:
    row = get_flavor(uow, flavor_id)
    if row.is_public:
        raise NotFound("Access list not available for public flavors.")
    return list(uow.session.scalars(select(FlavorAccess).where(FlavorAccess.flavor_id == flavor_id)
                                    .order_by(FlavorAccess.id)))


def add_access(uow: UnitOfWork, flavor_id: str, project_id: str) -> list[FlavorAccess]:
    row = get_flavor(uow, flavor_id)
    if row.is_public:
        raise Conflict("Can not add access to a public flavor.")
    if _has_access(uow, flavor_id, project_id):
        raise Conflict(f"Flavor access already exists for flavor {flavor_id} and project {project_id} "
                       "combination.")
    uow.session.add(FlavorAccess(flavor_id=flavor_id, project_id=project_id))
    flush_unique(uow, f"Flavor access already exists for flavor {flavor_id} and project {project_id} combination.")
    return list_access(uow, flavor_id)


def remove_access(uow: UnitOfWork, flavor_id: str, project_id: str) -> list[FlavorAccess]:
    get_flavor(uow, flavor_id)
    row = uow.session.scalars(select(FlavorAccess).where(FlavorAccess.flavor_id == flavor_id,
                                                         FlavorAccess.project_id == project_id)).first()
    if row is None:
        raise NotFound(f"Flavor access not found for {flavor_id} / {project_id} combination.")
    uow.session.delete(row)
    uow.session.flush()
    return list_access(uow, flavor_id)
