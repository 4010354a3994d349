"""Block device mappings: the volumes of a server (boot volumes and ``os-volume_attachments``).

The API records what is wanted — a mapping row in ``pending`` (boot volume to create and/or attach at
build), ``attaching`` or ``detaching`` — and wakes the host agent, which does the work through the block
storage client and the guest driver and moves the row on (``attached``; detached rows are deleted).
The volume side follows Cinder's states: reserved (at the API) → attaching → in-use → detaching →
available.  ``Instance.block_devices`` keeps the summary the server view shows as ``volumes_attached``.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from onestack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from onestack.core.uow import UnitOfWork

from .. import states
from ..model import BlockDeviceMapping, Instance
from .common import INSTANCE

PENDING, ATTACHING, ATTACHED, DETACHING = "pending", "attaching", "attached", "detaching"
SWAPPING = "swapping"  # the new volume of a swap; it takes the place of the attached row on the same device
WORK = (PENDING, ATTACHING, DETACHING, SWAPPING)  # rows the host agent still has to converge
ROOT_DEVICE = "/dev/vda"
MAX_DEVICES = 24  # vdb..vdz
DEVICE_RE = re.compile(r"^(/dev/)?(x?v|s|h)d[a-z]{1,2}$")

# vm_states Nova accepts for attach/detach (task_state must be None)
ATTACH_STATES = (states.ACTIVE, states.PAUSED, states.STOPPED, states.RESIZED, states.SOFT_DELETED,
                 states.SHELVED, states.SHELVED_OFFLOADED)


def mappings(uow: UnitOfWork, instance_id: str) -> list[BlockDeviceMapping]:
    rows = uow.session.scalars(select(BlockDeviceMapping).where(BlockDeviceMapping.instance_id == instance_id))
    return sorted(rows, key=lambda b: (b.boot_index is None or b.boot_index < 0, b.boot_index or 0,
                                       b.device_name or "", b.created_at))


def refresh_summary(uow: UnitOfWork, instance: Instance) -> None:
    uow.session.flush()
    instance.block_devices = [{"volume_id": b.volume_id, "delete_on_termination": bool(b.delete_on_termination),
                               "attached": True, "device": b.device_name}
                              for b in mappings(uow, instance.id) if b.volume_id and b.status != SWAPPING]


def normalize_device(name: str | None) -> str | None:
    if name is None or name == "":
        return None
    if not DEVICE_RE.match(name):
        raise BadRequest(f"The supplied device path ({name}) is invalid.")
    return name if name.startswith("/dev/") else f"/dev/{name}"


def next_device(used: set[str]) -> str:
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in used:
            return f"/dev/vd{letter}"
    raise Forbidden("The maximum allowed number of disk devices (24) to attach to a single instance has "
                     "been exceeded.")


# -- boot: block_device_mapping_v2 ---------------------------------------------------------------------


def _bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("true", "1", "yes", "on", "t", "y"):
        return True
    if low in ("false", "0", "no", "off", "f", "n"):
        return False
    raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}.")


def _int(value, name: str, minimum: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}.") from None
    if minimum is not None and number < minimum:
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}.")
    return number


def parse_boot_mappings(raw: list[dict], image_ref: str) -> tuple[list[dict], bool]:
    """Nova's checks of ``block_device_mapping_v2``; returns (volume mappings, root from an image).

    Each returned mapping: ``source_type``, ``uuid``, ``boot_index``, ``volume_size``,
    ``delete_on_termination``, ``device_name``, ``tag``, ``volume_type``.  ``local`` mappings of the
    image (the ``imageRef`` root, as the CLI sends it) are accepted and need no volume."""
    out: list[dict] = []
    boot_indexes: list[int] = []
    image_root = bool(image_ref)
    for item in raw:
        source = item.get("source_type") or ("volume" if item.get("uuid") else "blank")
        dest = item.get("destination_type") or ("volume" if source in ("volume", "snapshot") else "local")
        boot_index = _int(item.get("boot_index"), "boot_index")
        if boot_index is not None and boot_index >= 0:
            boot_indexes.append(boot_index)
        if item.get("no_device"):
            continue
        if dest == "local":
            if source not in ("image", "blank"):
                raise BadRequest(f"Block Device Mapping is Invalid: Mapping image/blank to local is the only "
                                 f"local mapping; got source_type {source}.")
            if source == "image" and boot_index == 0:
                image_root = True
            continue  # the image root (or an ephemeral disk: drivers give guests one root disk only)
        size = _int(item.get("volume_size"), "volume_size", 0)
        if source in ("image", "blank") and not size:
            raise BadRequest("Block Device Mapping is Invalid: Images with destination_type 'volume' need to "
                             "have a non-zero size specified." if source == "image" else
                             "Block Device Mapping is Invalid: You specified more local devices than the limit "
                             "allows or a blank volume without a size.")
        if source in ("volume", "snapshot", "image") and not item.get("uuid"):
            raise BadRequest(f"Block Device Mapping is Invalid: Missing the uuid of the {source} to boot from.")
        out.append({"source_type": source, "uuid": item.get("uuid"), "boot_index": boot_index,
                    "volume_size": size, "device_name": normalize_device(item.get("device_name")),
                    "delete_on_termination": _bool(item.get("delete_on_termination", False),
                                                   "delete_on_termination"),
                    "tag": item.get("tag"), "volume_type": item.get("volume_type")})
    if boot_indexes and sorted(boot_indexes) != list(range(len(boot_indexes))):
        raise BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device "
                         "mapping combination is not valid.")
    volume_root = any(m["boot_index"] == 0 for m in out)
    if volume_root:
        image_root = False
    if len(out) > MAX_DEVICES:
        raise Forbidden(f"The maximum allowed number of disk devices ({MAX_DEVICES}) to attach to a single "
                         "instance has been exceeded.")
    return out, image_root


def add_boot_mappings(uow: UnitOfWork, instance: Instance, specs: list[dict],
                      attachment_ids: dict[str, str] | None = None) -> None:
    """Mapping rows for a new server (the agent creates/attaches the volumes at build)."""
    used = {s["device_name"] for s in specs if s["device_name"]}
    for spec in specs:
        device = spec["device_name"]
        if spec["boot_index"] == 0:
            device = ROOT_DEVICE
        elif device is None or device == ROOT_DEVICE:
            device = next_device(used | {ROOT_DEVICE})
        used.add(device)
        volume_id = spec["uuid"] if spec["source_type"] == "volume" else None
        uow.session.add(BlockDeviceMapping(
            instance_id=instance.id, volume_id=volume_id, source_type=spec["source_type"],
            source_id=spec["uuid"] if spec["source_type"] in ("image", "snapshot") else None,
            volume_size=spec["volume_size"], volume_type=spec["volume_type"], boot_index=spec["boot_index"],
            device_name=device, tag=spec["tag"], delete_on_termination=spec["delete_on_termination"],
            attachment_id=(attachment_ids or {}).get(volume_id or ""), status=PENDING))
    refresh_summary(uow, instance)


# -- os-volume_attachments -------------------------------------------------------------------------------


def _check_attachable(instance: Instance, method: str, admin: bool) -> None:
    if instance.locked and not admin:
        raise Conflict(f"Instance {instance.id} is locked")
    if instance.vm_state not in ATTACH_STATES:
        raise Conflict(f"Cannot '{method}' instance {instance.id} while it is in vm_state {instance.vm_state}")
    if instance.task_state is not None:
        raise Conflict(f"Cannot '{method}' instance {instance.id} while it is in task_state {instance.task_state}")


def check_attach(uow: UnitOfWork, instance: Instance, volume_id: str, device: str | None, admin: bool) -> str:
    """Refuse what Nova refuses before reserving the volume; returns the device name to use."""
    _check_attachable(instance, "attach_volume", admin)
    rows = mappings(uow, instance.id)
    if any(b.volume_id == volume_id for b in rows):
        raise BadRequest(f"Invalid volume: volume {volume_id} is already attached to instance {instance.id}.")
    used = {b.device_name for b in rows if b.device_name} | {ROOT_DEVICE}
    if device is not None and device in used:
        raise Conflict(f"The supplied device path ({device}) is in use.")
    if len(rows) >= MAX_DEVICES:
        raise Forbidden(f"The maximum allowed number of disk devices ({MAX_DEVICES}) to attach to a single "
                         "instance has been exceeded.")
    return device or next_device(used)


def attach_volume(uow: UnitOfWork, instance: Instance, volume_id: str, device: str, tag: str | None,
                  delete_on_termination: bool, attachment_id: str, admin: bool) -> BlockDeviceMapping:
    check_attach(uow, instance, volume_id, device, admin)
    row = BlockDeviceMapping(instance_id=instance.id, volume_id=volume_id, source_type="volume",
                             destination_type="volume", device_name=device, tag=tag,
                             delete_on_termination=delete_on_termination, attachment_id=attachment_id,
                             status=ATTACHING)
    uow.session.add(row)
    refresh_summary(uow, instance)
    uow.emit(INSTANCE, instance.id)
    return row


def get_mapping(uow: UnitOfWork, instance_id: str, volume_id: str) -> BlockDeviceMapping:
    row = uow.session.scalars(select(BlockDeviceMapping).where(BlockDeviceMapping.instance_id == instance_id,
                                                               BlockDeviceMapping.volume_id == volume_id)).first()
    if row is None:
        raise NotFound(f"Volume {volume_id} is not attached to instance {instance_id}.")
    return row


def check_detach(uow: UnitOfWork, instance: Instance, volume_id: str, admin: bool) -> BlockDeviceMapping:
    _check_attachable(instance, "detach_volume", admin)
    row = get_mapping(uow, instance.id, volume_id)
    if row.boot_index == 0:
        raise BadRequest("Cannot detach a root device volume")
    if row.status != ATTACHED:
        raise BadRequest(f"Invalid volume: Unable to detach volume {volume_id}: it is {row.status}, not attached.")
    return row


def detach_volume(uow: UnitOfWork, instance: Instance, volume_id: str, admin: bool) -> BlockDeviceMapping:
    row = check_detach(uow, instance, volume_id, admin)
    row.status = DETACHING
    uow.emit(INSTANCE, instance.id)
    return row


def update_mapping(uow: UnitOfWork, instance: Instance, volume_id: str, body: dict) -> BlockDeviceMapping:
    """2.85: only ``delete_on_termination`` may change; the other keys must repeat what is there."""
    row = get_mapping(uow, instance.id, volume_id)
    current = {"id": row.volume_id, "serverId": instance.id, "device": row.device_name, "tag": row.tag,
               "bdm_uuid": row.id}
    for key, value in current.items():
        if key in body and body[key] != value:
            raise BadRequest(f"The {key} of a volume attachment cannot be changed (it is {value}).")
    if "delete_on_termination" in body:
        row.delete_on_termination = bool(body["delete_on_termination"])
        refresh_summary(uow, instance)
    return row


# vm_states Nova accepts for a swap
SWAP_STATES = (states.ACTIVE, states.PAUSED, states.RESIZED)


def check_swap(uow: UnitOfWork, instance: Instance, old_volume_id: str, new_volume_id: str,
               admin: bool) -> BlockDeviceMapping:
    if instance.locked and not admin:
        raise Conflict(f"Instance {instance.id} is locked")
    if instance.vm_state not in SWAP_STATES or instance.task_state is not None:
        raise Conflict(f"Cannot 'swap_volume' instance {instance.id} while it is in vm_state {instance.vm_state}")
    row = get_mapping(uow, instance.id, old_volume_id)
    if row.status != ATTACHED:
        raise BadRequest(f"Invalid volume: volume {old_volume_id} is {row.status}, not attached.")
    if any(b.volume_id == new_volume_id for b in mappings(uow, instance.id)):
        raise BadRequest(f"Invalid volume: volume {new_volume_id} is already attached to instance {instance.id}.")
    return row


def swap_volume(uow: UnitOfWork, instance: Instance, old_volume_id: str, new_volume_id: str,
                attachment_id: str, admin: bool) -> BlockDeviceMapping:
    old = check_swap(uow, instance, old_volume_id, new_volume_id, admin)
    row = BlockDeviceMapping(instance_id=instance.id, volume_id=new_volume_id, source_type="volume",
                             destination_type="volume", device_name=old.device_name, tag=old.tag,
                             boot_index=old.boot_index, delete_on_termination=old.delete_on_termination,
                             attachment_id=attachment_id, status=SWAPPING)
    uow.session.add(row)
    uow.emit(INSTANCE, instance.id)
    return row


def pending_instances(uow: UnitOfWork, hosts: list[str]) -> list[str]:
    """Servers on ``hosts`` with mappings the agent has to converge (a lost wake-up is found here)."""
    query = (select(BlockDeviceMapping.instance_id).join(Instance, Instance.id == BlockDeviceMapping.instance_id)
             .where(BlockDeviceMapping.status.in_((ATTACHING, DETACHING, SWAPPING)), Instance.host.in_(hosts),
                    Instance.deleted.is_(False)).distinct())
    return list(uow.session.scalars(query))
