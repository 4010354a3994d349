"""What every networking use case shares: visibility, revisions, quotas, retries, events."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from onestack.core.context import RequestContext
from onestack.core.errors import Conflict
from onestack.core.uow import UnitOfWork, UnitOfWorkFactory

from .. import model as m
from ..errors import over_quota, revision_mismatch

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bus topics the network agent listens to (keys: network id, router id, port id, "all").
TOPIC_NETWORK = "network.network"
TOPIC_ROUTER = "network.router"
TOPIC_PORT = "network.port"
TOPIC_FIREWALL = "network.firewall"
TOPIC_PORT_PLUGGED = "network.port.plugged"  # compute (re)created a port's device (a hint for its host's agent)
TOPIC_PORT_STATUS = "network.port.status"  # a port's status changed (compute waits for ACTIVE)

QUOTA_DEFAULTS = {
    "network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10, "floatingip": 50,
    "security_group": 10, "security_group_rule": 100, "rbac_policy": 10,
}

DEVICE_OWNER_ROUTER_INTF = "network:router_interface"
DEVICE_OWNER_ROUTER_GW = "network:router_gateway"
DEVICE_OWNER_FLOATINGIP = "network:floatingip"
DEVICE_OWNER_DHCP = "network:dhcp"
ROUTER_OWNERS = (DEVICE_OWNER_ROUTER_INTF, DEVICE_OWNER_ROUTER_GW, "network:router_interface_distributed",
                 "network:ha_router_replicated_interface")


@dataclass(frozen=True)
class Caller:
    """Who acts: a project (or the admin) — what service functions need from a RequestContext."""

    project_id: str
    is_admin: bool = False

    @classmethod
    def of(cls, ctx: RequestContext) -> Caller:
        return cls(ctx.project_id or "", ctx.is_admin)


SYSTEM = Caller("", True)


def write(uow_factory: UnitOfWorkFactory, fn: Callable[[UnitOfWork], T], attempts: int = 30) -> T:
    """Run ``fn`` in a write unit of work, retrying on unique-constraint races and deadlocks.

    IPAM, MAC generation and segment allocation pick a free value and let the database's unique
    constraints decide; the loser of a race retries with a fresh view.  User errors (a requested
    address already in use) are found by explicit checks on the retry and raised as ApiErrors.
    """
    for attempt in range(attempts):
        try:
            with uow_factory(write=True) as uow:
                return fn(uow)
        except IntegrityError as exc:
            if attempt == attempts - 1:
                log.warning("giving up after %d conflicting attempts: %s", attempts, exc)
                raise Conflict("The request conflicted with concurrent requests; try again.") from None
        except DBAPIError as exc:
            # deadlocks / serialization failures (MariaDB 1213, PostgreSQL 40001/40P01), SQLite busy
            text = str(exc.orig).lower()
            if not any(w in text for w in ("deadlock", "serializ", "locked", "lock wait")) or attempt == attempts - 1:
                raise
        time.sleep(random.uniform(0.001, 0.005) * (attempt + 1))
    raise AssertionError("unreachable")


def visible(model, caller: Caller, *extra):
    """A WHERE clause: the caller's own rows (and ``extra`` alternatives), everything for admins."""
    if caller.is_admin:
        return True
    return or_(model.project_id == caller.project_id, *extra)


def check_revision(row: Any, if_match: str | None) -> None:
    """``If-Match: revision_number=N`` (several may be given, comma separated)."""
    if not if_match:
        return
    wanted = []
    for part in if_match.split(","):
        part = part.strip()
        if part.startswith("revision_number="):
            try:
                wanted.append(int(part.split("=", 1)[1]))
            except ValueError:
                continue
    if wanted and row.revision not in wanted:
        raise revision_mismatch(wanted[0], row.revision)


def bump(row: Any) -> None:
    row.revision = (row.revision or 0) + 1


def apply_tags(row: Any, tags: list[str] | None) -> None:
    if tags is not None:
        row.tags = sorted(set(tags))


# -- quotas ----------------------------------------------------------------------------------------

class Limits:
    """Reads a project's limit for a resource: local override, else the unified limit, else default."""

    def __init__(self, lookup: Callable[[str, str], int | None] | None = None) -> None:
        self.lookup = lookup

    def limit(self, uow: UnitOfWork, project_id: str, resource: str) -> int:
        row = uow.session.connection().execute(_QUOTA, {"project_id": project_id, "resource": resource}).first()
        if row is not None:
            return row[0]
        if self.lookup is not None:
            value = self.lookup(resource, project_id)
            if value is not None:
                return value
        return QUOTA_DEFAULTS.get(resource, -1)


_COUNTED = {
    "network": m.Network, "subnet": m.Subnet, "port": m.Port, "router": m.Router, "floatingip": m.FloatingIP,
    "security_group": m.SecurityGroup, "security_group_rule": m.SecurityGroupRule, "subnetpool": m.SubnetPool,
}


_QUOTA = select(m.Quota.__table__.c.limit).where(m.Quota.__table__.c.project_id == bindparam("project_id"),
                                                 m.Quota.__table__.c.resource == bindparam("resource"))
_USAGE = {name: select(func.count()).select_from(model.__table__).where(
    model.__table__.c.project_id == bindparam("project_id")) for name, model in _COUNTED.items()}


def usage(uow: UnitOfWork, project_id: str, resource: str) -> int:
    stmt = _USAGE.get(resource)
    if stmt is None:
        return 0
    return uow.session.connection().execute(stmt, {"project_id": project_id}).scalar() or 0


def lock_quota(uow: UnitOfWork, project_id: str, resource: str) -> None:
    """Serialize creators of one resource in one project (SQLite's BEGIN IMMEDIATE already does)."""
    if uow.session.bind.dialect.name == "sqlite":
        return
    session = uow.session
    if session.get(m.QuotaLock, (project_id, resource)) is None:
        try:
            with session.begin_nested():
                session.add(m.QuotaLock(project_id=project_id, resource=resource))
        except IntegrityError:
            pass
    session.execute(select(m.QuotaLock).where(m.QuotaLock.project_id == project_id,
                                              m.QuotaLock.resource == resource).with_for_update())


def check_quota(uow: UnitOfWork, limits: Limits, project_id: str, resource: str, adding: int = 1) -> None:
    if not project_id:
        return
    lock_quota(uow, project_id, resource)
    limit = limits.limit(uow, project_id, resource)
    if limit < 0:
        return
    if usage(uow, project_id, resource) + adding > limit:
        raise over_quota(resource)
