"""Volume types, their extra specs, access for private types and the default type."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..model import DefaultType, Volume, VolumeType, VolumeTypeAccess
from .common import Caller

DEFAULT_TYPE_NAME = "__DEFAULT__"


def ensure_default_type(uow: UnitOfWork) -> VolumeType:
    row = uow.session.scalars(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE_NAME)).first()
    if row is None:
        row = VolumeType(name=DEFAULT_TYPE_NAME, description="Default Volume Type", is_public=True, extra_specs={})
        uow.session.add(row)
        uow.session.flush()
    return row


def _accessible(uow: UnitOfWork, row: VolumeType, caller: Caller) -> bool:
    if row.is_public or caller.is_admin:
        return True
    return uow.session.get(VolumeTypeAccess, (row.id, caller.project_id)) is not None


def get_type(uow: UnitOfWork, type_id: str, caller: Caller) -> VolumeType:
    if type_id == "default":
        return default_type(uow, caller.project_id)
    row = uow.session.get(VolumeType, type_id)
    if row is None or not _accessible(uow, row, caller):
        raise NotFound(f"Volume type {type_id} could not be found.")
    return row


def find_type(uow: UnitOfWork, name_or_id: str, caller: Caller) -> VolumeType:
    """By id, else by name (volume create/retype accept either)."""
    row = uow.session.get(VolumeType, name_or_id)
    if row is None:
        row = uow.session.scalars(select(VolumeType).where(VolumeType.name == name_or_id)).first()
    if row is None or not _accessible(uow, row, caller):
        raise NotFound(f"Volume type with name {name_or_id} could not be found.")
    return row


def default_type(uow: UnitOfWork, project_id: str | None) -> VolumeType:
    if project_id:
        chosen = uow.session.get(DefaultType, project_id)
        if chosen is not None:
            row = uow.session.get(VolumeType, chosen.volume_type_id)
            if row is not None:
                return row
    return ensure_default_type(uow)


def list_types(uow: UnitOfWork, caller: Caller, is_public: bool | None = None) -> list[VolumeType]:
    rows = list(uow.session.scalars(select(VolumeType).order_by(VolumeType.name)))
    if caller.is_admin:
        if is_public is None:
            return rows
        return [r for r in rows if r.is_public == is_public]
    granted = set(uow.session.scalars(select(VolumeTypeAccess.volume_type_id)
                                      .where(VolumeTypeAccess.project_id == caller.project_id)))
    if is_public is None or is_public:
        return [r for r in rows if r.is_public or r.id in granted]
    return [r for r in rows if not r.is_public and r.id in granted]


def create_type(uow: UnitOfWork, name: str, description: str | None, is_public: bool, extra_specs: dict) -> VolumeType:
    name = name.strip()
    if not name:
        raise BadRequest("Invalid input received: Volume type name can not be empty.")
    if uow.session.scalars(select(VolumeType).where(VolumeType.name == name)).first():
        raise Conflict(f"Volume Type {name} already exists.")
    row = VolumeType(name=name, description=description, is_public=is_public,
                     extra_specs={str(k): str(v) for k, v in (extra_specs or {}).items()})
    uow.session.add(row)
    uow.session.flush()
    return row


def update_type(uow: UnitOfWork, type_id: str, caller: Caller, changes: dict) -> VolumeType:
    row = get_type(uow, type_id, caller)
    if "name" in changes and changes["name"] is not None:
        name = changes["name"].strip()
        if not name:
            raise BadRequest("Invalid input received: Volume type name can not be empty.")
        if row.name == DEFAULT_TYPE_NAME and name != row.name:
            raise BadRequest("Invalid input received: The default volume type cannot be renamed.")
        other = uow.session.scalars(select(VolumeType).where(VolumeType.name == name)).first()
        if other is not None and other.id != row.id:
            raise Conflict(f"Volume Type {name} already exists.")
        row.name = name
    if "description" in changes:
        row.description = changes["description"]
    if changes.get("is_public") is not None:
        row.is_public = changes["is_public"]
    return row


def delete_type(uow: UnitOfWork, type_id: str, caller: Caller) -> None:
    row = get_type(uow, type_id, caller)
    if row.name == DEFAULT_TYPE_NAME or uow.session.scalars(
            select(DefaultType).where(DefaultType.volume_type_id == row.id)).first():
        raise BadRequest("Invalid input received: Default volume type can not be deleted.")
    if uow.session.scalars(select(Volume.id).where(Volume.volume_type_id == row.id)).first():
        raise BadRequest("Invalid volume type: Target volume type is still in use.")
    uow.session.delete(row)


def set_extra_specs(uow: UnitOfWork, type_id: str, caller: Caller, specs: dict) -> dict:
    row = get_type(uow, type_id, caller)
    row.extra_specs = {**(row.extra_specs or {}), **{str(k): str(v) for k, v in specs.items()}}
    return row.extra_specs


def delete_extra_spec(uow: UnitOfWork, type_id: str, caller: Caller, key: str) -> None:
    row = get_type(uow, type_id, caller)
    specs = dict(row.extra_specs or {})
    if key not in specs:
        raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
    del specs[key]
    row.extra_specs = specs


def list_access(uow: UnitOfWork, type_id: str, caller: Caller) -> list[VolumeTypeAccess]:
    row = get_type(uow, type_id, caller)
    if row.is_public:
        raise NotFound("Access list not available for public volume types.")
    return list(uow.session.scalars(select(VolumeTypeAccess).where(VolumeTypeAccess.volume_type_id == row.id)))


def add_access(uow: UnitOfWork, type_id: str, caller: Caller, project_id: str) -> None:
    row = get_type(uow, type_id, caller)
    if row.is_public:
        raise BadRequest("Invalid volume type: Type access modification is not applicable to public volume type.")
    if uow.session.get(VolumeTypeAccess, (row.id, project_id)) is not None:
        raise Conflict(f"Volume type access for {row.id} / {project_id} combination already exists.")
    uow.session.add(VolumeTypeAccess(volume_type_id=row.id, project_id=project_id))


def remove_access(uow: UnitOfWork, type_id: str, caller: Caller, project_id: str) -> None:
    row = get_type(uow, type_id, caller)
    if row.is_public:
        raise BadRequest("Invalid volume type: Type access modification is not applicable to public volume type.")
    access = uow.session.get(VolumeTypeAccess, (row.id, project_id))
    if access is None:
        raise NotFound(f"Volume type access not found for {row.id} / {project_id} combination.")
    uow.session.delete(access)


def set_default_type(uow: UnitOfWork, project_id: str, type_name_or_id: str, caller: Caller) -> DefaultType:
    row = find_type(uow, type_name_or_id, caller)
    current = uow.session.get(DefaultType, project_id)
    if current is None:
        current = DefaultType(project_id=project_id, volume_type_id=row.id)
        uow.session.add(current)
    else:
        current.volume_type_id = row.id
    return current


def get_default_type(uow: UnitOfWork, project_id: str) -> DefaultType:
    row = uow.session.get(DefaultType, project_id)
    if row is None:
        raise NotFound(f"Default type for project {project_id} could not be found.")
    return row


def list_default_types(uow: UnitOfWork) -> list[DefaultType]:
    return list(uow.session.scalars(select(DefaultType)))


def unset_default_type(uow: UnitOfWork, project_id: str) -> None:
    uow.session.delete(get_default_type(uow, project_id))
