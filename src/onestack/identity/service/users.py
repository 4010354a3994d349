"""Users, groups and group membership; password hashing, change, expiry and lockout."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field

import bcrypt
from sqlalchemy import delete, select

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, NotFound, Unauthorized
from onestack.core.uow import UnitOfWork

from ..model import ApplicationCredential, Assignment, Group, GroupMembership, User
from .common import apply, changed, flush_unique, get, split_extra
from .resources import DEFAULT_DOMAIN_ID, find_domain, get_domain
from .revocations import revoke

USER_FIELDS = ("name", "domain_id", "enabled", "default_project_id", "description", "password", "options")
USER_OPTIONS = {
    "ignore_change_password_upon_first_use": bool,
    "ignore_password_expiry": bool,
    "ignore_lockout_failure_attempts": bool,
    "lock_password": bool,
    "multi_factor_auth_enabled": bool,
    "multi_factor_auth_rules": list,
}
# Computed once: comparing against it when a user does not exist keeps timing uniform.
_DUMMY_HASH = bcrypt.hashpw(b"onestack", bcrypt.gensalt(4))


@dataclass(frozen=True)
class PasswordPolicy:
    rounds: int = 12
    lockout_failure_attempts: int = 0
    lockout_duration: int = 1800
    password_expires_days: int = 0


def hash_secret(secret: str, rounds: int) -> str:
    # bcrypt reads at most 72 bytes; newer releases refuse longer input instead of truncating.
    return bcrypt.hashpw(secret.encode()[:72], bcrypt.gensalt(rounds)).decode()


def check_secret(secret: str, hashed: str | None) -> bool:
    if not hashed:
        bcrypt.checkpw(b"x", _DUMMY_HASH)
        return False
    return bcrypt.checkpw(secret.encode()[:72], hashed.encode())


def check_options(options: dict) -> dict:
    for key, value in options.items():
        if key not in USER_OPTIONS:
            raise BadRequest(f"Invalid input for field 'options': unknown option {key!r}.")
        if value is not None and not isinstance(value, USER_OPTIONS[key]):
            raise BadRequest(f"Invalid input for field 'options/{key}': wrong type.")
    return {k: v for k, v in options.items() if v is not None}


def get_user(uow: UnitOfWork, user_id: str) -> User:
    return get(uow, User, user_id, "user")


def find_user(uow: UnitOfWork, ref: dict) -> User:
    if ref.get("id"):
        return get_user(uow, ref["id"])
    if ref.get("name"):
        if not isinstance(ref.get("domain"), dict):
            raise BadRequest("Expecting to find domain in user.")
        domain = find_domain(uow, ref["domain"])
        user = uow.session.scalars(select(User).where(User.name == ref["name"], User.domain_id == domain.id)).first()
        if user is None:
            raise NotFound(f"Could not find user: {ref['name']}.")
        return user
    raise BadRequest("Expecting to find id or name in user.")


def list_users(uow: UnitOfWork, filters: dict) -> list[User]:
    query = select(User).order_by(User.name)
    for key in ("domain_id", "name", "enabled"):
        if key in filters:
            query = query.where(getattr(User, key) == filters[key])
    return list(uow.session.scalars(query))


@dataclass(frozen=True)
class CreateUser:
    name: str
    domain_id: str = DEFAULT_DOMAIN_ID
    password: str | None = None
    enabled: bool = True
    default_project_id: str | None = None
    description: str | None = None
    options: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    id: str | None = None


def _set_password(user: User, password: str | None, policy: PasswordPolicy) -> None:
    now = utcnow()
    user.password_hash = hash_secret(password, policy.rounds) if password is not None else None
    user.password_created_at = now if password is not None else None
    expires = None
    if password is not None and policy.password_expires_days and not user.options.get("ignore_password_expiry"):
        expires = now + dt.timedelta(days=policy.password_expires_days)
    user.password_expires_at = expires
    user.failed_auth_count = 0


def create_user(uow: UnitOfWork, cmd: CreateUser, policy: PasswordPolicy) -> User:
    domain = get_domain(uow, cmd.domain_id)
    user = User(name=cmd.name, domain_id=domain.id, enabled=cmd.enabled, default_project_id=cmd.default_project_id,
                description=cmd.description, options=check_options(cmd.options), extra=cmd.extra)
    if cmd.id:
        user.id = cmd.id
    _set_password(user, cmd.password, policy)
    uow.session.add(user)
    flush_unique(uow, f"Duplicate entry: a user named {cmd.name} already exists in domain {domain.id}.")
    return user


def update_user(uow: UnitOfWork, user_id: str, changes: dict, policy: PasswordPolicy) -> User:
    user = get_user(uow, user_id)
    core, extra = split_extra(changes, USER_FIELDS)
    if "domain_id" in core and core["domain_id"] != user.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    if "options" in core:
        user.options = {**user.options, **check_options(core["options"])}
        user.options = {k: v for k, v in user.options.items() if core["options"].get(k, v) is not None}
    apply(user, core, ("name", "enabled", "default_project_id", "description"))
    if extra:
        user.extra = {**user.extra, **extra}
    if "password" in core:
        _set_password(user, core["password"], policy)
    flush_unique(uow, f"Duplicate entry: a user named {user.name} already exists.")
    if core.get("enabled") is False or "password" in core:
        revoke(uow, user_id=user.id)
    changed(uow, user.id)
    return user


def change_password(uow: UnitOfWork, user_id: str, original: str, new: str, policy: PasswordPolicy) -> None:
    """The user's own change: authenticates ``original`` as a login would (enabled, lockout), except
    that an expired password may be changed.  A failed attempt raises ``Unauthorized``; the caller
    records it with ``record_failed_attempt`` (this transaction is rolled back)."""
    user = get_user(uow, user_id)
    if user.options.get("lock_password"):
        raise BadRequest("You cannot change your password at this time due to password policy.")
    if not user.enabled:
        raise Unauthorized("The request you have made requires authentication.")
    verify_password(user, original, policy, allow_expired=True)
    _set_password(user, new, policy)
    revoke(uow, user_id=user.id)
    changed(uow, user.id)


def delete_user(uow: UnitOfWork, user_id: str) -> None:
    user = get_user(uow, user_id)
    uow.session.execute(delete(Assignment).where(Assignment.actor_id == user.id))
    uow.session.execute(delete(GroupMembership).where(GroupMembership.user_id == user.id))
    uow.session.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id == user.id))
    uow.session.delete(user)
    revoke(uow, user_id=user.id)
    changed(uow, user.id)


def is_locked(user: User, policy: PasswordPolicy) -> bool:
    lockout = policy.lockout_failure_attempts and not user.options.get("ignore_lockout_failure_attempts")
    return bool(lockout and user.failed_auth_count >= policy.lockout_failure_attempts and user.failed_auth_at
                and utcnow() < user.failed_auth_at + dt.timedelta(seconds=policy.lockout_duration))


def record_failed_attempt(uow: UnitOfWork, user_id: str, policy: PasswordPolicy) -> None:
    """Count a failed password check towards the lockout (when configured and not locked already)."""
    user = uow.session.get(User, user_id)
    if user is None or not policy.lockout_failure_attempts or is_locked(user, policy):
        return
    if user.options.get("ignore_lockout_failure_attempts"):
        return
    user.failed_auth_count += 1
    user.failed_auth_at = utcnow()


def verify_password(user: User, password: str, policy: PasswordPolicy, allow_expired: bool = False) -> None:
    """Check a password at authentication, with lockout and expiry as keystone's security compliance."""
    now = utcnow()
    lockout = policy.lockout_failure_attempts and not user.options.get("ignore_lockout_failure_attempts")
    if lockout and user.failed_auth_count >= policy.lockout_failure_attempts and user.failed_auth_at:
        if is_locked(user, policy):
            raise Unauthorized(f"The account is locked for user: {user.id}.")
        user.failed_auth_count = 0
    if not check_secret(password, user.password_hash):
        if lockout:
            user.failed_auth_count += 1
            user.failed_auth_at = now
        raise Unauthorized("The request you have made requires authentication.")
    if (not allow_expired and user.password_expires_at and now > user.password_expires_at
            and not user.options.get("ignore_password_expiry")):
        raise Unauthorized(f"The password is expired and needs to be changed for user: {user.id}.")
    if user.failed_auth_count:
        user.failed_auth_count = 0


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# -- groups ---------------------------------------------------------------------------------------


def get_group(uow: UnitOfWork, group_id: str) -> Group:
    return get(uow, Group, group_id, "group")


def list_groups(uow: UnitOfWork, filters: dict) -> list[Group]:
    query = select(Group).order_by(Group.name)
    for key in ("domain_id", "name"):
        if key in filters:
            query = query.where(getattr(Group, key) == filters[key])
    return list(uow.session.scalars(query))


def create_group(uow: UnitOfWork, name: str, domain_id: str, description: str | None, extra: dict) -> Group:
    domain = get_domain(uow, domain_id)
    group = Group(name=name, domain_id=domain.id, description=description, extra=extra)
    uow.session.add(group)
    flush_unique(uow, f"Duplicate entry: a group named {name} already exists in domain {domain.id}.")
    return group


def update_group(uow: UnitOfWork, group_id: str, changes: dict) -> Group:
    group = get_group(uow, group_id)
    if "domain_id" in changes and changes["domain_id"] != group.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    apply(group, changes, ("name", "description"))
    flush_unique(uow, f"Duplicate entry: a group named {group.name} already exists.")
    return group


def delete_group(uow: UnitOfWork, group_id: str) -> None:
    group = get_group(uow, group_id)
    members = group_users(uow, group.id)
    uow.session.execute(delete(Assignment).where(Assignment.actor_id == group.id))
    uow.session.execute(delete(GroupMembership).where(GroupMembership.group_id == group.id))
    uow.session.delete(group)
    # Roles are recomputed when a token is validated: no revocation needed, only fresh caches.
    for user in members:
        changed(uow, user.id)


def group_users(uow: UnitOfWork, group_id: str) -> list[User]:
    return list(uow.session.scalars(
        select(User).join(GroupMembership, GroupMembership.user_id == User.id)
        .where(GroupMembership.group_id == group_id).order_by(User.name)
    ))


def user_groups(uow: UnitOfWork, user_id: str) -> list[Group]:
    return list(uow.session.scalars(
        select(Group).join(GroupMembership, GroupMembership.group_id == Group.id)
        .where(GroupMembership.user_id == user_id).order_by(Group.name)
    ))


def is_member(uow: UnitOfWork, group_id: str, user_id: str) -> bool:
    get_group(uow, group_id)
    get_user(uow, user_id)
    return uow.session.get(GroupMembership, (group_id, user_id)) is not None


def add_user_to_group(uow: UnitOfWork, group_id: str, user_id: str) -> None:
    if not is_member(uow, group_id, user_id):
        uow.session.add(GroupMembership(group_id=group_id, user_id=user_id))
        changed(uow, user_id)


def remove_user_from_group(uow: UnitOfWork, group_id: str, user_id: str) -> None:
    if not is_member(uow, group_id, user_id):
        raise NotFound(f"User {user_id} is not a member of group {group_id}.")
    uow.session.execute(
        delete(GroupMembership).where(GroupMembership.group_id == group_id, GroupMembership.user_id == user_id)
    )
    changed(uow, user_id)
