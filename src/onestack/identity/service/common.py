"""Helpers shared by the identity use cases."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from onestack.core.errors import Conflict, NotFound
from onestack.core.uow import UnitOfWork

T = TypeVar("T")

# Published after every change that can alter what a token means (roles, enabled flags, catalog,
# revocations): token caches in every API process drop what they hold.
CHANGED = "identity.changed"


def get(uow: UnitOfWork, model: type[T], id_: str, what: str) -> T:
    row = uow.session.get(model, id_) if id_ else None
    if row is None:
        raise NotFound(f"Could not find {what}: {id_}.")
    return row


def changed(uow: UnitOfWork, key: str = "") -> None:
    uow.emit(CHANGED, key)


def flush_unique(uow: UnitOfWork, message: str) -> None:
    """Flush, turning a unique-constraint violation into keystone's 409."""
    try:
        uow.session.flush()
    except IntegrityError:
        uow.session.rollback()
        raise Conflict(f"Conflict occurred attempting to store {message}") from None


def apply(row, changes: dict, fields: tuple[str, ...]) -> None:
    for name in fields:
        if name in changes:
            setattr(row, name, changes[name])


def split_extra(body: dict, known: tuple[str, ...]) -> tuple[dict, dict]:
    """Keystone keeps unknown attributes of users/projects as 'extra' and returns them flattened."""
    core = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known and k not in ("id", "links")}
    return core, extra
