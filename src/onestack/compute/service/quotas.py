"""Quotas: defaults registered as Keystone unified limits, usage counted from our tables, exact checks.

Limits are read through the identity client (``effective_limit``): the project's limit, else the
registered default.  Checks run inside the writing unit of work after ``lock`` on the project's quota
row, so two concurrent requests can never both take the last unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from onestack.core.uow import UnitOfWork

from ..errors import OverLimit
from ..model import Instance, KeyPair, ServerGroup, ServerGroupMember
from .common import lock

# legacy quota name -> (unified limits resource name, default), as Nova's unified limits driver.
RESOURCES: dict[str, tuple[str, int]] = {
    "instances": ("servers", 10),
    "cores": ("class:VCPU", 20),
    "ram": ("class:MEMORY_MB", 51200),
    "metadata_items": ("server_metadata_items", 128),
    "injected_files": ("server_injected_files", 5),
    "injected_file_content_bytes": ("server_injected_file_content_bytes", 10240),
    "injected_file_path_bytes": ("server_injected_file_path_bytes", 255),
    "key_pairs": ("server_key_pairs", 100),
    "server_groups": ("server_groups", 10),
    "server_group_members": ("server_group_members", 10),
}
# Network quotas moved to Neutron; Nova shows them as unlimited before 2.36.
LEGACY_NETWORK = ("fixed_ips", "floating_ips", "security_group_rules", "security_groups")
LEGACY_FILES = ("injected_file_content_bytes", "injected_file_path_bytes", "injected_files")

Limits = Callable[[str, str], int]  # (legacy name, project id) -> limit, -1 = unlimited


def defaults() -> dict[str, int]:
    """What ``ensure_registered_limits`` registers."""
    return {unified: default for unified, default in RESOURCES.values()}


@dataclass(frozen=True)
class Usage:
    instances: int = 0
    cores: int = 0
    ram: int = 0
    server_groups: int = 0
    key_pairs: int = 0


def project_usage(uow: UnitOfWork, project_id: str, user_id: str | None = None) -> Usage:
    live = (Instance.project_id == project_id, Instance.deleted.is_(False))
    count, cores, ram = uow.session.execute(
        select(func.count(Instance.id), func.coalesce(func.sum(Instance.vcpus), 0),
               func.coalesce(func.sum(Instance.memory_mb), 0)).where(*live)).one()
    groups = uow.session.scalar(select(func.count(ServerGroup.id)).where(ServerGroup.project_id == project_id))
    keys = 0
    if user_id:
        keys = uow.session.scalar(select(func.count(KeyPair.id)).where(KeyPair.user_id == user_id))
    return Usage(int(count), int(cores), int(ram), int(groups or 0), int(keys or 0))


# what a server create counts (instances, cores, ram): one prebuilt statement on the connection
_SERVER_USAGE = select(func.count(Instance.id), func.coalesce(func.sum(Instance.vcpus), 0),
                       func.coalesce(func.sum(Instance.memory_mb), 0)).where(
    Instance.project_id == bindparam("project_id"), Instance.deleted.is_(False))


def server_usage(uow: UnitOfWork, project_id: str) -> tuple[int, int, int]:
    """The project's (instances, cores, ram) in use."""
    count, cores, ram = uow.session.connection().execute(_SERVER_USAGE, {"project_id": project_id}).one()
    return int(count), int(cores), int(ram)


def _over(resource: str, limit: int, used: int, requested: int) -> OverLimit:
    if resource == "instances":
        return OverLimit(f"Quota exceeded for instances: Requested {requested}, but already used {used} of "
                         f"{limit} instances")
    return OverLimit(f"Quota exceeded for {resource}: Requested {requested}, but already used {used} of "
                     f"{limit} {resource}")


def check_servers(uow: UnitOfWork, limits: Limits, project_id: str, count: int, vcpus: int, ram: int,
                  min_count: int | None = None) -> int:
    """Lock the project's quota and return how many servers (min..count) fit; OverLimit if not min."""
    wanted = {resource: limits(resource, project_id) for resource in ("instances", "cores", "ram")}
    if all(limit < 0 for limit in wanted.values()):
        return count  # unlimited: nothing to count, so no lock (it would serialize the project's boots)
    lock(uow, f"project:{project_id}")
    min_count = count if min_count is None else min_count
    fits = count
    instances, cores, memory = server_usage(uow, project_id)
    for resource, used, per in (("instances", instances, 1), ("cores", cores, vcpus), ("ram", memory, ram)):
        limit = wanted[resource]
        if limit < 0 or per == 0:
            continue
        room = max(limit - used, 0) // per
        if room < min_count:
            raise _over(resource, limit, used, per * min_count)
        fits = min(fits, room)
    return fits


def check_resize(uow: UnitOfWork, limits: Limits, project_id: str, dvcpus: int, dram: int) -> None:
    lock(uow, f"project:{project_id}")
    usage = project_usage(uow, project_id)
    for resource, used, delta in (("cores", usage.cores, dvcpus), ("ram", usage.ram, dram)):
        limit = limits(resource, project_id)
        if limit >= 0 and delta > 0 and used + delta > limit:
            raise _over(resource, limit, used, delta)


def check_key_pairs(uow: UnitOfWork, limits: Limits, project_id: str, user_id: str) -> None:
    lock(uow, f"user:{user_id}")
    limit = limits("key_pairs", project_id)
    used = project_usage(uow, project_id, user_id).key_pairs
    if 0 <= limit <= used:
        raise OverLimit("Quota exceeded, too many key pairs.")


def check_server_groups(uow: UnitOfWork, limits: Limits, project_id: str) -> None:
    lock(uow, f"project:{project_id}")
    limit = limits("server_groups", project_id)
    if 0 <= limit <= project_usage(uow, project_id).server_groups:
        raise OverLimit("Quota exceeded, too many server groups.")


def check_group_members(uow: UnitOfWork, limits: Limits, project_id: str, group_id: str, adding: int) -> None:
    limit = limits("server_group_members", project_id)
    if limit < 0:
        return
    members = uow.session.scalar(select(func.count()).select_from(ServerGroupMember)
                                 .where(ServerGroupMember.group_id == group_id)) or 0
    if members + adding > limit:
        raise OverLimit("Quota exceeded, too many servers in group")


def check_metadata(limits: Limits, project_id: str, metadata: dict) -> None:
    limit = limits("metadata_items", project_id)
    if 0 <= limit < len(metadata):
        raise OverLimit("Quota exceeded for metadata_items: Requested "
                        f"{len(metadata)}, but already used 0 of {limit} metadata_items")


def quota_set(limits: Limits, project_id: str) -> dict[str, int]:
    return {name: limits(name, project_id) for name in RESOURCES}


def quota_detail(uow: UnitOfWork, limits: Limits, project_id: str, user_id: str | None = None) -> dict[str, dict]:
    usage = project_usage(uow, project_id, user_id)
    used = {"instances": usage.instances, "cores": usage.cores, "ram": usage.ram,
            "server_groups": usage.server_groups, "key_pairs": usage.key_pairs}
    return {name: {"limit": limits(name, project_id), "in_use": used.get(name, 0), "reserved": 0}
            for name in RESOURCES}
