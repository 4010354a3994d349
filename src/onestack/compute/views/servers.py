"""Server documents, shaped per microversion (Nova's ViewBuilder, key for key)."""

from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple

from onestack.core.microversion import Version

from .. import states
from .common import isotime, links


def host_id(instance) -> str:
    if not instance.host:
        return ""
    return _host_id(instance.project_id, instance.host)


@functools.lru_cache(maxsize=4096)
def _host_id(project_id: str, host: str) -> str:
    return hashlib.sha224((project_id + host).encode()).hexdigest()


class _Shape(NamedTuple):
    """Which microversion-dependent keys a server document has (a list shows many servers of one version)."""

    v2_3: bool
    v2_9: bool
    v2_16: bool
    v2_19: bool
    v2_26: bool
    v2_47: bool
    v2_63: bool
    v2_71: bool
    v2_73: bool
    v2_90: bool
    v2_96: bool


@functools.lru_cache(maxsize=256)
def _shape(major: int, minor: int) -> _Shape:
    v = Version(major, minor)
    return _Shape(*(v.matches(f"2.{n}") for n in (3, 9, 16, 19, 26, 47, 63, 71, 73, 90, 96)))


def summary(row, base: str) -> dict:
    return {"id": row.id, "name": row.name, "links": links(base, "servers", row.id)}


def _flavor(row, base: str, v: Version, extra_specs: bool) -> dict:
    f = row.flavor or {}
    if not _shape(v.major, v.minor).v2_47:
        return {"id": row.flavor_id, "links": [{"rel": "bookmark", "href": f"{base}/compute/flavors/{row.flavor_id}"}]}
    body = {"vcpus": f.get("vcpus"), "ram": f.get("ram"), "disk": f.get("disk"), "ephemeral": f.get("ephemeral", 0),
            "swap": f.get("swap", 0), "original_name": f.get("name")}
    if extra_specs:
        body["extra_specs"] = dict(f.get("extra_specs") or {})
    return body


def fault(row, admin: bool) -> dict | None:
    if not row.fault or row.vm_state not in (states.ERROR, states.DELETED):
        return None
    body = {"code": row.fault.get("code", 500), "created": (row.fault.get("created") or "")[:19] + "Z",
            "message": row.fault.get("message", "")}
    if admin or body["code"] != 500:
        body["details"] = row.fault.get("details", "")
    return body


def server(row, base: str, v: Version, *, admin: bool = False, extra_specs: bool = False,
           show_host_status: bool = False, host_status: str = "", group_ids: list[str] | None = None,
           minimal: bool = False, tags: list[str] | None = None) -> dict:
    """``row``: an ``Instance`` or a row of ``VIEW_COLUMNS`` (then ``tags`` given).  ``minimal``: the
    reduced document Nova returns from update and rebuild before 2.75."""
    status = states.status(row.vm_state, row.task_state)
    shape = _shape(v.major, v.minor)
    body: dict = {
        "id": row.id,
        "name": row.name,
        "status": status,
        "tenant_id": row.project_id,
        "user_id": row.user_id,
        "metadata": dict(row.metadata_ or {}),
        "hostId": host_id(row),
        "image": {"id": row.image_ref, "links": [{"rel": "bookmark", "href": f"{base}/compute/images/{row.image_ref}"}]}
        if row.image_ref else "",
        "flavor": _flavor(row, base, v, extra_specs),
        "created": isotime(row.created_at),
        "updated": isotime(row.updated_at),
        "addresses": dict(row.addresses or {}),
        "accessIPv4": row.access_ip_v4 or "",
        "accessIPv6": row.access_ip_v6 or "",
        "links": links(base, "servers", row.id),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": row.availability_zone or "",
        "config_drive": row.config_drive or "",
        "key_name": row.key_name,
        "OS-SRV-USG:launched_at": row.launched_at.isoformat(timespec="microseconds") if row.launched_at else None,
        "OS-SRV-USG:terminated_at": row.terminated_at.isoformat(timespec="microseconds")
        if row.terminated_at else None,
        "OS-EXT-STS:task_state": row.task_state,
        "OS-EXT-STS:vm_state": row.vm_state,
        "OS-EXT-STS:power_state": row.power_state,
        "os-extended-volumes:volumes_attached": [
            ({"id": b["volume_id"], "delete_on_termination": bool(b.get("delete_on_termination"))}
             if shape.v2_3 else {"id": b["volume_id"]})
            for b in (row.block_devices or []) if b.get("volume_id") and b.get("attached")],
    }
    if status in ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"):
        body["progress"] = 100 if status == "ACTIVE" else row.progress or 0
    if row.security_groups and row.vm_state != states.BUILDING:
        body["security_groups"] = [{"name": g["name"]} for g in row.security_groups]
    if admin:
        body["OS-EXT-SRV-ATTR:host"] = row.host
        body["OS-EXT-SRV-ATTR:instance_name"] = "instance-" + row.id[:8]
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = row.node
        if shape.v2_3:
            body.update({"OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
                         "OS-EXT-SRV-ATTR:launch_index": row.launch_index,
                         "OS-EXT-SRV-ATTR:hostname": row.hostname, "OS-EXT-SRV-ATTR:kernel_id": "",
                         "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                         "OS-EXT-SRV-ATTR:user_data": row.user_data})
    elif shape.v2_90:
        body["OS-EXT-SRV-ATTR:hostname"] = row.hostname
    if shape.v2_9:
        body["locked"] = bool(row.locked)
    if shape.v2_16 and show_host_status:
        body["host_status"] = host_status
    if shape.v2_19:
        body["description"] = row.description
    if shape.v2_26:
        body["tags"] = tags if tags is not None else [t.tag for t in row.tags]
    if shape.v2_63:
        body["trusted_image_certificates"] = None
    if shape.v2_71 and group_ids is not None:
        body["server_groups"] = group_ids
    if shape.v2_73:
        body["locked_reason"] = row.locked_reason
    if shape.v2_96:
        body["pinned_availability_zone"] = row.requested_az
    f = fault(row, admin)
    if f:
        body["fault"] = f
    if minimal:
        for key in [k for k in body if k.startswith(("OS-EXT-", "OS-SRV-USG:", "os-extended-volumes"))]:
            del body[key]
        for key in ("config_drive", "key_name", "security_groups", "host_status", "server_groups"):
            body.pop(key, None)
        body["addresses"] = {net: [{"version": a.get("version"), "addr": a.get("addr")} for a in addrs]
                             for net, addrs in body["addresses"].items()}  # without the OS-EXT-IPS keys
    return body
