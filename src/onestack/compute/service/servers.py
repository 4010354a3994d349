"""Servers: create (quota-checked, then scheduled asynchronously), list, show, update, delete, actions.

The API only records desired state: a new server is ``building/scheduling`` and an outbox event wakes
the scheduler; an action sets its task_state, bumps ``revision`` and wakes the host agent, which does
the work through its driver and records the outcome (see ``states.ACTIONS``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from onestack.core.uow import UnitOfWork

from .. import states
from ..model import (
    Flavor,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceTag,
    ServerGroup,
    ServerGroupMember,
    VirtualInterface,
    new_uuid,
)
from . import block_devices, quotas
from .common import INSTANCE, SCHEDULE
from .flavors import boot_flavor
from .keypairs import find_keypair

MAX_TAGS = 50


@dataclass(frozen=True)
class Caller:
    project_id: str
    user_id: str
    request_id: str = ""
    admin: bool = False
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateServer:
    name: str
    flavor_id: str
    image_ref: str = ""
    networks: object = None  # "auto" | "none" | [{"uuid"|"port"|"fixed_ip"}] | None
    key_name: str | None = None
    user_data: str | None = None
    metadata: dict = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str | None = None
    hostname: str | None = None
    min_count: int = 1
    max_count: int = 1
    availability_zone: str | None = None
    scheduler_hints: dict = field(default_factory=dict)
    security_groups: tuple[str, ...] = ()
    block_devices: tuple[dict, ...] = ()  # volume mappings from block_devices.parse_boot_mappings
    attachment_ids: dict = field(default_factory=dict)  # source volume id -> attachment reserved for the server
    server_id: str | None = None  # chosen before the create when volumes were reserved for it (one server)
    config_drive: bool = False
    access_ip_v4: str = ""
    access_ip_v6: str = ""
    forced_host: str | None = None
    image: dict | None = None  # the image's size, min_disk and min_ram (image client boot_facts), checked here
    # whether the caller passes os_compute_api:servers:create:zero_disk_flavor (asked only when it matters)
    zero_disk_allowed: Callable[[], bool] = lambda: False


def flavor_snapshot(row: Flavor) -> dict:
    return {"id": row.id, "name": row.name, "vcpus": row.vcpus, "ram": row.memory_mb, "disk": row.root_gb,
            "ephemeral": row.ephemeral_gb, "swap": row.swap, "extra_specs": dict(row.extra_specs or {})}


def sanitize_hostname(name: str) -> str:
    host = re.sub(r"[^a-zA-Z0-9-]+", "-", name.lower().replace("_", "-")).strip("-.")
    return host[:63] or "server"


# -- reading ----------------------------------------------------------------------------------------


def get_server(uow: UnitOfWork, caller: Caller, server_id: str, lock: bool = False) -> Instance:
    query = select(Instance).where(Instance.id == server_id, Instance.deleted.is_(False))
    if lock:
        query = query.with_for_update()
    row = uow.session.scalars(query).first()
    if row is None or (not caller.admin and row.project_id != caller.project_id):
        raise NotFound(f"Instance {server_id} could not be found.")
    return row


@dataclass(frozen=True)
class ServerFilter:
    project_id: str | None  # None: every project (all_tenants)
    name: str | None = None
    status: tuple[str, ...] = ()
    changes_since: dt.datetime | None = None
    changes_before: dt.datetime | None = None
    image: str | None = None
    flavor: str | None = None
    host: str | None = None
    availability_zone: str | None = None
    key_name: str | None = None
    reservation_id: str | None = None
    locked: bool | None = None
    tags: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    not_tags_any: tuple[str, ...] = ()
    deleted: bool = False
    user_id: str | None = None
    ip: str | None = None  # regular expressions matched against the server's IPv4 / IPv6 addresses
    ip6: str | None = None


# What a server document shows: listing reads these columns only (no ORM objects, and not the large
# system_metadata with its console log).
VIEW_COLUMNS = ("id", "name", "project_id", "user_id", "image_ref", "flavor_id", "flavor", "host", "node",
                "availability_zone", "requested_az", "vm_state", "task_state", "power_state", "key_name",
                "user_data", "metadata_", "description", "hostname", "config_drive", "access_ip_v4",
                "access_ip_v6", "security_groups", "block_devices", "addresses", "reservation_id", "launch_index",
                "locked", "locked_reason", "progress", "launched_at", "terminated_at", "created_at", "updated_at",
                "fault", "deleted")
# Listing's rows: tuples with named fields (a view reads ~60 fields of each server; a SQLAlchemy Row's
# attribute costs ~15x a named tuple's: 0.5 ms of a 20-server /servers/detail)
ServerRow = namedtuple("ServerRow", VIEW_COLUMNS)
_VIEW_SELECT = select(*[getattr(Instance, k).label(k) for k in VIEW_COLUMNS])  # built once
# what clients poll: a project's servers, newest first, without other filters, or those changed since
# (deleted ones included, as Nova): the statements and their cache keys are built once, not per request
_PROJECT_PAGE = (_VIEW_SELECT.where(Instance.deleted.is_(False), Instance.project_id == bindparam("project_id"))
                 .order_by(Instance.created_at.desc(), Instance.id.desc()).limit(bindparam("limit")))
_PROJECT_CHANGES = (_VIEW_SELECT.where(Instance.updated_at >= bindparam("since"),
                                       Instance.project_id == bindparam("project_id"))
                    .order_by(Instance.created_at.desc(), Instance.id.desc()).limit(bindparam("limit")))
_NEWEST_FIRST = (("created_at", "desc"),)
_TAGS_OF = select(InstanceTag.instance_id, InstanceTag.tag).where(
    InstanceTag.instance_id.in_(bindparam("ids", expanding=True))).order_by(InstanceTag.tag)


def list_servers(uow: UnitOfWork, flt: ServerFilter, limit: int | None, marker: str | None,
                 sort_keys: tuple[tuple[str, str], ...] = (("created_at", "desc"),), rows: bool = False) -> list:
    """Matching servers in order; ``rows``: ``ServerRow``s (the ``VIEW_COLUMNS``) instead of ORM objects,
    read with Core on the unit of work's connection."""
    if rows and limit is not None and marker is None and sort_keys == _NEWEST_FIRST and flt.project_id is not None:
        if flt == ServerFilter(project_id=flt.project_id):
            return _view_rows(uow, _PROJECT_PAGE, {"project_id": flt.project_id, "limit": limit})
        if flt == ServerFilter(project_id=flt.project_id, changes_since=flt.changes_since):
            return _view_rows(uow, _PROJECT_CHANGES, {"project_id": flt.project_id, "limit": limit,
                                                      "since": flt.changes_since})
    base = _VIEW_SELECT if rows else select(Instance)
    query = base
    if not flt.deleted:
        query = query.where(Instance.deleted.is_(False))
    if flt.changes_since is not None:
        query = base.where(Instance.updated_at >= flt.changes_since)  # includes deleted, as Nova
    if flt.changes_before is not None:
        query = query.where(Instance.updated_at <= flt.changes_before)
    if flt.project_id is not None:
        query = query.where(Instance.project_id == flt.project_id)
    for column, value in ((Instance.image_ref, flt.image), (Instance.flavor_id, flt.flavor),
                          (Instance.host, flt.host), (Instance.availability_zone, flt.availability_zone),
                          (Instance.key_name, flt.key_name), (Instance.reservation_id, flt.reservation_id),
                          (Instance.user_id, flt.user_id)):
        if value is not None:
            query = query.where(column == value)
    if flt.locked is not None:
        query = query.where(Instance.locked.is_(flt.locked))
    if flt.status:
        vm_states = [vm for s in flt.status for vm in states.vm_state_of_status(s)]
        query = query.where(Instance.vm_state.in_(vm_states))
    for tag in flt.tags:
        query = query.where(Instance.id.in_(select(InstanceTag.instance_id).where(InstanceTag.tag == tag)))
    if flt.tags_any:
        query = query.where(Instance.id.in_(select(InstanceTag.instance_id).where(InstanceTag.tag.in_(flt.tags_any))))
    if flt.not_tags:
        having_all = select(InstanceTag.instance_id).where(InstanceTag.tag.in_(flt.not_tags)).group_by(
            InstanceTag.instance_id)
        having_all = having_all.having(func.count() == len(set(flt.not_tags)))
        query = query.where(Instance.id.not_in(having_all))
    if flt.not_tags_any:
        query = query.where(Instance.id.not_in(select(InstanceTag.instance_id)
                                               .where(InstanceTag.tag.in_(flt.not_tags_any))))
    columns = []
    for key, direction in sort_keys:
        column = getattr(Instance, _SORT_COLUMNS.get(key, "created_at"))
        columns.append((column, direction))
    columns.append((Instance.id, columns[0][1] if columns else "desc"))
    if marker:
        anchor = uow.session.get(Instance, marker)
        if anchor is None:
            raise BadRequest(f"marker [{marker}] not found")
        query = query.where(_after(columns, anchor))
    query = query.order_by(*[c.desc() if d == "desc" else c.asc() for c, d in columns])
    checks = []  # filters on values the database cannot match (regular expressions)
    for pattern, what in ((flt.name, "name"), (flt.ip, "ip"), (flt.ip6, "ip6")):
        if pattern:
            try:
                checks.append((re.compile(pattern), what))
            except re.error:
                raise BadRequest(f"Invalid regular expression for {what} filter: {pattern}") from None
    if checks:
        found = [r for r in (_view_rows(uow, query) if rows else uow.session.scalars(query))
                 if all(_matches(r, regex, what) for regex, what in checks)]
        return found[:limit] if limit is not None else found
    if limit is not None:
        query = query.limit(limit)
    return _view_rows(uow, query) if rows else list(uow.session.scalars(query))


def _view_rows(uow: UnitOfWork, query, params: dict | None = None) -> list[ServerRow]:
    make = ServerRow._make
    return [make(r) for r in uow.session.connection().execute(query, params)]


def _matches(row, regex: re.Pattern, what: str) -> bool:
    if what == "name":
        return regex.search(row.name or "") is not None
    version = 6 if what == "ip6" else 4
    return any(regex.search(a.get("addr") or "") for addrs in (row.addresses or {}).values() for a in addrs
               if a.get("version") == version)


def tags_of(uow: UnitOfWork, server_ids: list[str]) -> dict[str, list[str]]:
    """server id -> its tags (sorted), for a page of servers in one statement."""
    out: dict[str, list[str]] = {}
    conn = uow.session.connection()
    for start in range(0, len(server_ids), 500):
        for server_id, tag in conn.execute(_TAGS_OF, {"ids": server_ids[start:start + 500]}):
            out.setdefault(server_id, []).append(tag)
    return out


_SORT_COLUMNS = {"created_at": "created_at", "updated_at": "updated_at", "display_name": "name",
                 "uuid": "id", "vm_state": "vm_state", "task_state": "task_state", "power_state": "power_state",
                 "host": "host", "node": "node", "launched_at": "launched_at", "terminated_at": "terminated_at",
                 "availability_zone": "availability_zone", "key_name": "key_name", "image_ref": "image_ref",
                 "project_id": "project_id", "user_id": "user_id", "hostname": "hostname",
                 "display_description": "description", "instance_type_id": "flavor_id", "locked": "locked",
                 "config_drive": "config_drive", "access_ip_v4": "access_ip_v4", "access_ip_v6": "access_ip_v6",
                 "progress": "progress", "launch_index": "launch_index", "kernel_id": "id", "ramdisk_id": "id",
                 "root_device_name": "id", "locked_by": "locked_by", "instance_type": "flavor_id"}
SORT_KEYS = frozenset(_SORT_COLUMNS)


def _after(columns, anchor):
    """Keyset condition: rows strictly after ``anchor`` in the given ordering."""
    clauses = []
    for i, (column, direction) in enumerate(columns):
        value = getattr(anchor, column.key)
        equal = [c == getattr(anchor, c.key) for c, _ in columns[:i]]
        step = column < value if direction == "desc" else column > value
        clauses.append(and_(*equal, step))
    return or_(*clauses)


# -- creating ---------------------------------------------------------------------------------------


def check_flavor_fits_image(root_gb: int, memory_mb: int, image: dict) -> None:
    """As Nova before it builds (create, rebuild, resize): the image's ``min_ram``, and on a flavor with a root
    disk its data ``size`` and ``min_disk``, must fit the flavor (a zero-disk flavor takes the image's size)."""
    if int(image.get("min_ram") or 0) > memory_mb:
        raise BadRequest("Flavor's memory is too small for requested image.")
    disk = root_gb << 30
    if not disk:
        return
    size, min_disk = int(image.get("size") or 0), int(image.get("min_disk") or 0) << 30
    if size > disk:
        raise BadRequest(f"Flavor's disk is too small for requested image. Flavor disk is {disk} bytes, "
                         f"image is {size} bytes.")
    if min_disk > disk:
        raise BadRequest("Flavor's disk is smaller than the minimum size specified in image metadata. Flavor "
                         f"disk is {disk} bytes, minimum size is {min_disk} bytes.")


ZERO_DISK_FLAVOR = "os_compute_api:servers:create:zero_disk_flavor"


def check_zero_disk_flavor(root_gb: int, image_backed: bool, allowed: Callable[[], bool]) -> None:
    """As Nova (create and rebuild): an image-backed server on a flavor without a root disk only for
    callers that pass ``os_compute_api:servers:create:zero_disk_flavor`` (admin by default)."""
    if image_backed and not root_gb and not allowed():
        raise Forbidden("Only volume-backed servers are allowed for flavors with zero disk.")


def create_servers(uow: UnitOfWork, caller: Caller, cmd: CreateServer, limits: quotas.Limits,
                   zones: Callable[[], set[str]], default_zone: str) -> tuple[list[CreatedServer], str]:
    try:
        flavor = boot_flavor(uow, cmd.flavor_id, caller.project_id, caller.admin)
    except NotFound:
        raise BadRequest(f"Flavor {cmd.flavor_id} could not be found.") from None
    if flavor.disabled:
        raise BadRequest(f"Flavor {cmd.flavor_id} could not be found.")
    if cmd.image is not None:
        check_flavor_fits_image(flavor.root_gb, flavor.memory_mb, cmd.image)
    check_zero_disk_flavor(flavor.root_gb, bool(cmd.image_ref), cmd.zero_disk_allowed)
    key_data = None
    if cmd.key_name:
        kp = find_keypair(uow, caller.user_id, cmd.key_name)
        if kp is None:
            raise BadRequest("Invalid key_name provided.")
        key_data = kp.public_key
    if cmd.availability_zone and cmd.availability_zone not in zones():
        raise BadRequest(f"The requested availability zone is not available (requested {cmd.availability_zone}).")
    quotas.check_metadata(limits, caller.project_id, cmd.metadata)
    if cmd.min_count > cmd.max_count:
        raise BadRequest("min_count must be <= max_count")
    group = None
    group_id = (cmd.scheduler_hints or {}).get("group")
    if group_id:
        group = uow.session.get(ServerGroup, group_id)
        if group is None or (not caller.admin and group.project_id != caller.project_id):
            raise BadRequest(f"Invalid server group {group_id}: it could not be found.")
    count = quotas.check_servers(uow, limits, caller.project_id, cmd.max_count, flavor.vcpus, flavor.memory_mb,
                                 cmd.min_count)
    if group is not None:
        quotas.check_group_members(uow, limits, caller.project_id, group.id, count)
    reservation = "r-" + secrets.token_hex(4)
    created: list[CreatedServer] = []
    snapshot = flavor_snapshot(flavor)
    security_groups = [{"name": n} for n in (cmd.security_groups or ("default",))]
    # Core inserts on the unit of work's connection (the columns' defaults apply as in a flush), no ORM
    # objects: this is every boot's request
    conn = uow.session.connection()
    for index in range(count):
        name = cmd.name if count == 1 else f"{cmd.name}-{index + 1}"
        hostname = cmd.hostname if (cmd.hostname and count == 1) else sanitize_hostname(name)
        server_id = cmd.server_id if (cmd.server_id and count == 1) else new_uuid()
        conn.execute(_INSERT_INSTANCE, {
            "id": server_id, "name": name, "project_id": caller.project_id, "user_id": caller.user_id,
            "image_ref": cmd.image_ref, "flavor_id": flavor.id, "flavor": snapshot, "vcpus": flavor.vcpus,
            "memory_mb": flavor.memory_mb, "requested_az": cmd.availability_zone,
            "availability_zone": cmd.availability_zone, "vm_state": states.BUILDING,
            "task_state": states.SCHEDULING, "power_state": states.NOSTATE, "key_name": cmd.key_name,
            "key_data": key_data, "user_data": cmd.user_data, _METADATA: dict(cmd.metadata),
            "system_metadata": {"roles": ",".join(caller.roles), "forced_host": cmd.forced_host or ""},
            "description": cmd.description, "hostname": hostname, "config_drive": "True" if cmd.config_drive else "",
            "access_ip_v4": cmd.access_ip_v4, "access_ip_v6": cmd.access_ip_v6, "security_groups": security_groups,
            "requested_networks": cmd.networks, "block_devices": [],
            "scheduler_hints": dict(cmd.scheduler_hints or {}), "server_group_id": group.id if group else None,
            "reservation_id": reservation, "launch_index": index, "status": "BUILD"})
        if cmd.tags:
            conn.execute(_INSERT_TAG, [{"instance_id": server_id, "tag": t} for t in sorted(set(cmd.tags))])
        if cmd.block_devices:
            block_devices.add_boot_mappings(uow, uow.session.get(Instance, server_id), list(cmd.block_devices),
                                            cmd.attachment_ids)
        if group is not None:
            uow.session.add(ServerGroupMember(group_id=group.id, instance_id=server_id))
        conn.execute(_INSERT_ACTION, {"instance_id": server_id, "action": "create",
                                      "request_id": caller.request_id or "", "user_id": caller.user_id,
                                      "project_id": caller.project_id})
        uow.emit(SCHEDULE, server_id)
        created.append(CreatedServer(server_id, security_groups))
    return created, reservation


@dataclass(frozen=True)
class CreatedServer:
    """What the create's response shows of each new server."""

    id: str
    security_groups: list[dict]


_INSERT_INSTANCE = insert(Instance.__table__)
_METADATA = Instance.__mapper__.attrs["metadata_"].columns[0].key  # the column's name
_INSERT_TAG = insert(InstanceTag.__table__)
_INSERT_ACTION = insert(InstanceAction.__table__)


# -- actions ----------------------------------------------------------------------------------------


def record_action(uow: UnitOfWork, instance: Instance, action: str, caller: Caller,
                  finished: bool = False) -> InstanceAction:
    row = InstanceAction(instance_id=instance.id, action=action, request_id=caller.request_id or "",
                         user_id=caller.user_id, project_id=caller.project_id)
    if finished:
        row.finish_time = utcnow()
    uow.session.add(row)
    return row


def check_state(instance: Instance, action: states.Action, method: str | None = None) -> None:
    name = method or action.name
    if instance.vm_state not in action.vm_states:
        raise Conflict(f"Cannot '{name}' instance {instance.id} while it is in vm_state {instance.vm_state}")
    if instance.task_state not in action.task_states:
        raise Conflict(f"Cannot '{name}' instance {instance.id} while it is in task_state {instance.task_state}")


def check_locked(instance: Instance, caller: Caller) -> None:
    if instance.locked and not caller.admin:
        raise Conflict(f"Instance {instance.id} is locked")


def start_action(uow: UnitOfWork, caller: Caller, server_id: str, name: str, args: dict | None = None,
                 record: str | None = None) -> Instance:
    """Validate the state and hand the action to the host agent."""
    instance = get_server(uow, caller, server_id, lock=True)
    action = states.ACTIONS[name]
    check_locked(instance, caller)
    check_state(instance, action, record or name)
    instance.task_state = action.task_state
    prior = instance.pending or {}  # a confirmResize the agent has not carried out yet comes along
    confirm = {"confirm_resize": True} if prior.get("action") == "confirmResize" or prior.get("confirm_resize") \
        else {}
    instance.pending = {"action": name, **(args or {}), "request_id": caller.request_id, **confirm}
    instance.revision += 1
    record_action(uow, instance, record or name, caller)
    uow.emit(INSTANCE, instance.id)
    return instance


def start_migration(uow: UnitOfWork, caller: Caller, server_id: str, live: bool, host: str | None) -> Instance:
    """Cold (``migrate``) or live migration: the scheduler picks (or checks) a new host and moves the
    placement allocation there; the agent then rebuilds the guest on the target."""
    name = "live-migration" if live else "migrate"
    instance = get_server(uow, caller, server_id, lock=True)
    check_locked(instance, caller)
    check_state(instance, states.ACTIONS[name], name)
    if host is not None and host == instance.host:
        raise BadRequest(f"The target host {host} is the server's current host.")
    instance.task_state = states.ACTIONS[name].task_state
    instance.pending = {"action": name, "target": host, "source": instance.host, "request_id": caller.request_id,
                        "was_stopped": instance.vm_state == states.STOPPED}
    instance.revision += 1
    record_action(uow, instance, name, caller)
    uow.emit(SCHEDULE, instance.id)
    return instance


def revert_migration(uow: UnitOfWork, caller: Caller, server_id: str) -> Instance:
    """revertResize of a cold migration: the scheduler moves the allocation back to the source host
    (where the agent rebuilds the guest) instead of the agent resizing in place."""
    instance = get_server(uow, caller, server_id, lock=True)
    check_locked(instance, caller)
    check_state(instance, states.ACTIONS["revertResize"])
    source = (instance.system_metadata or {}).get("migrated_from")
    instance.task_state = states.ACTIONS["revertResize"].task_state
    instance.pending = {"action": "migrate", "target": source, "source": instance.host, "revert": True,
                        "request_id": caller.request_id, "was_stopped": instance.power_state == states.SHUTDOWN}
    instance.revision += 1
    record_action(uow, instance, "revertResize", caller)
    uow.emit(SCHEDULE, instance.id)
    return instance


def delete_server(uow: UnitOfWork, caller: Caller, server_id: str, force: bool = False,
                  instance: Instance | None = None) -> None:
    """``instance``: the server already read (locked) in this unit of work."""
    instance = instance if instance is not None else get_server(uow, caller, server_id, lock=True)
    check_locked(instance, caller)
    if instance.task_state == states.DELETING and not force:
        return
    record_action(uow, instance, "delete", caller)
    if instance.host is None:
        finish_delete(uow, instance)  # never reached a host: nothing to tear down (the scheduler may
        uow.emit(SCHEDULE, instance.id)  # hold a claim: it releases it when it sees the row deleted)
        return
    instance.task_state = states.DELETING
    instance.pending = {"action": "delete", "request_id": caller.request_id}
    instance.revision += 1
    uow.emit(INSTANCE, instance.id)


def _deleted(now) -> dict:
    return {"vm_state": states.DELETED, "task_state": None, "power_state": states.NOSTATE, "deleted": True,
            "deleted_at": now, "terminated_at": now, "status": "DELETED"}


def finish_delete(uow: UnitOfWork, instance: Instance) -> None:
    for key, value in _deleted(utcnow()).items():
        setattr(instance, key, value)
    for member in uow.session.scalars(select(ServerGroupMember).where(ServerGroupMember.instance_id == instance.id)):
        uow.session.delete(member)
    uow.session.execute(delete(VirtualInterface).where(VirtualInterface.instance_id == instance.id))


def finish_delete_row(uow: UnitOfWork, instance_id: str, observed_revision: int) -> None:
    """``finish_delete`` for a server not loaded as an object (the compute agent's delete): Core statements."""
    conn = uow.session.connection()
    columns = Instance.__mapper__.columns
    now = utcnow()
    values = {columns[k].key: v for k, v in _deleted(now).items()}
    values.update({"observed_revision": observed_revision, "updated_at": now, "b_instance_id": instance_id})
    conn.execute(_DELETE_MEMBERSHIPS, {"b_instance_id": instance_id})
    conn.execute(_DELETE_VIFS, {"b_instance_id": instance_id})
    conn.execute(UPDATE_INSTANCE, values)


# prebuilt: the SET clause is the parameters given (column names), the row is "b_instance_id"
UPDATE_INSTANCE = update(Instance.__table__).where(Instance.__table__.c.id == bindparam("b_instance_id"))
_DELETE_MEMBERSHIPS = delete(ServerGroupMember.__table__).where(
    ServerGroupMember.__table__.c.instance_id == bindparam("b_instance_id"))
_DELETE_VIFS = delete(VirtualInterface.__table__).where(
    VirtualInterface.__table__.c.instance_id == bindparam("b_instance_id"))


def update_server(uow: UnitOfWork, caller: Caller, server_id: str, changes: dict) -> Instance:
    instance = get_server(uow, caller, server_id, lock=True)
    for key, attr in (("name", "name"), ("description", "description"), ("hostname", "hostname"),
                      ("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6")):
        if key in changes:
            setattr(instance, attr, changes[key] if changes[key] is not None or key == "description" else "")
    instance.updated_at = utcnow()
    return instance


def lock_server(uow: UnitOfWork, caller: Caller, server_id: str, reason: str | None) -> None:
    instance = get_server(uow, caller, server_id, lock=True)
    instance.locked = True
    instance.locked_by = "admin" if caller.admin and caller.project_id != instance.project_id else "owner"
    instance.locked_reason = reason
    record_action(uow, instance, "lock", caller, finished=True)


def unlock_server(uow: UnitOfWork, caller: Caller, server_id: str, override: bool) -> None:
    instance = get_server(uow, caller, server_id, lock=True)
    if instance.locked and instance.locked_by == "admin" and not override:
        raise Forbidden("Instance was locked by an administrator; only an administrator can unlock it.")
    instance.locked, instance.locked_by, instance.locked_reason = False, None, None
    record_action(uow, instance, "unlock", caller, finished=True)


def reset_state(uow: UnitOfWork, caller: Caller, server_id: str, state: str) -> None:
    instance = get_server(uow, caller, server_id, lock=True)
    instance.vm_state = states.ERROR if state == "error" else states.ACTIVE
    instance.task_state = None
    instance.pending = None
    instance.observed_revision = instance.revision
    instance.updated_at = utcnow()
    record_action(uow, instance, "resetState", caller, finished=True)


# -- metadata, tags, actions log ----------------------------------------------------------------------


def set_metadata(uow: UnitOfWork, caller: Caller, server_id: str, items: dict, replace: bool,
                 limits: quotas.Limits) -> dict:
    instance = get_server(uow, caller, server_id, lock=True)
    check_locked(instance, caller)
    merged = dict(items) if replace else {**(instance.metadata_ or {}), **items}
    quotas.check_metadata(limits, instance.project_id, merged)
    instance.metadata_ = merged
    instance.updated_at = utcnow()
    return merged


def delete_metadata(uow: UnitOfWork, caller: Caller, server_id: str, key: str) -> None:
    instance = get_server(uow, caller, server_id, lock=True)
    check_locked(instance, caller)
    metadata = dict(instance.metadata_ or {})
    if key not in metadata:
        raise NotFound(f"Metadata item was not found: {key}")
    del metadata[key]
    instance.metadata_ = metadata


def set_tags(uow: UnitOfWork, caller: Caller, server_id: str, tags: list[str]) -> list[str]:
    instance = get_server(uow, caller, server_id, lock=True)
    if len(set(tags)) > MAX_TAGS:
        raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    instance.tags = [InstanceTag(tag=t) for t in sorted(set(tags))]
    instance.updated_at = utcnow()
    uow.session.flush()
    return sorted(set(tags))


def add_tag(uow: UnitOfWork, caller: Caller, server_id: str, tag: str) -> bool:
    instance = get_server(uow, caller, server_id, lock=True)
    have = {t.tag for t in instance.tags}
    if tag in have:
        return False
    if len(have) >= MAX_TAGS:
        raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    instance.tags.append(InstanceTag(tag=tag))
    instance.updated_at = utcnow()
    return True


def delete_tag(uow: UnitOfWork, caller: Caller, server_id: str, tag: str) -> None:
    instance = get_server(uow, caller, server_id, lock=True)
    row = next((t for t in instance.tags if t.tag == tag), None)
    if row is None:
        raise NotFound(f"Tag '{tag}' could not be found for instance {server_id}")
    instance.tags.remove(row)


def list_actions(uow: UnitOfWork, caller: Caller, server_id: str) -> list[InstanceAction]:
    query = select(Instance).where(Instance.id == server_id)
    instance = uow.session.scalars(query).first()
    if instance is None or (not caller.admin and instance.project_id != caller.project_id):
        raise NotFound(f"Instance {server_id} could not be found.")
    return list(uow.session.scalars(select(InstanceAction).where(InstanceAction.instance_id == server_id)
                                    .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())))


def get_action(uow: UnitOfWork, caller: Caller, server_id: str, request_id: str) -> InstanceAction:
    for row in list_actions(uow, caller, server_id):
        if row.request_id == request_id:
            return row
    raise NotFound(f"Action {request_id} could not be found.")


_ACTION_T, _EVENT_T = InstanceAction.__table__, InstanceActionEvent.__table__
_LATEST_ACTION = select(_ACTION_T.c.id, _ACTION_T.c.start_time).where(
    _ACTION_T.c.instance_id == bindparam("instance_id")).order_by(_ACTION_T.c.id.desc()).limit(1)
_LATEST_NAMED_ACTION = _LATEST_ACTION.where(_ACTION_T.c.action == bindparam("action_name"))
_INSERT_EVENT = insert(_EVENT_T)
_Action = namedtuple("_Action", ("id", "start_time"))
_FINISH_ACTION = update(_ACTION_T).where(_ACTION_T.c.id == bindparam("b_action_id"))  # SET: the parameters given


def add_event(uow: UnitOfWork, instance_id: str, event: str, host: str | None, ok: bool,
              details: str | None = None, action_name: str | None = None,
              action: tuple[int, dt.datetime] | None = None) -> None:
    """Record a finished event on the instance's latest action (optionally of a given name), or on
    ``action`` ((id, start_time), read before by the caller: the scheduler reads it with the server).

    Prebuilt Core statements on the unit of work's connection, no objects loaded: every boot records
    two of these (the scheduler's and the build's) and every delete one."""
    conn = uow.session.connection()
    if action is not None:
        action = _Action(*action)
    elif action_name:
        uow.session.flush()  # an action added in this unit of work counts
        action = conn.execute(_LATEST_NAMED_ACTION, {"instance_id": instance_id, "action_name": action_name}).first()
    else:
        uow.session.flush()
        action = conn.execute(_LATEST_ACTION, {"instance_id": instance_id}).first()
    if action is None:
        return
    now = utcnow()
    conn.execute(_INSERT_EVENT, {
        "action_id": action.id, "event": event, "start_time": action.start_time, "finish_time": now,
        "result": "Success" if ok else "Error", "host": host, "details": details,
        "traceback": None if ok else details})
    values: dict = {"b_action_id": action.id, "finish_time": now, "updated_at": now}
    if not ok:
        values["message"] = "Error"
    conn.execute(_FINISH_ACTION, values)
