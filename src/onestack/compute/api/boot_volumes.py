"""The block storage side of ``POST /servers`` with ``block_device_mapping_v2`` (and of deleting a
server that never reached a host).

Existing volumes a server boots with are reserved for it before the server row is written (as Nova
creates their attachments in the API), so two servers cannot take one volume; volumes made from an
image, snapshot or nothing are created later by the host agent.  Reserving needs the server id, so
such a create chooses it first (and is limited to one server, as Nova's "Cannot attach one or more
volumes to multiple instances").
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid

from onestack.core.errors import ApiError, BadRequest, NotFound
from onestack.core.http import ApiRequest

from ..model import Instance
from ..service import block_devices as bd
from ..service.servers import CreateServer


def reserve(req: ApiRequest, cmd: CreateServer, check_image) -> CreateServer:
    for spec in cmd.block_devices:
        if spec["source_type"] == "image":
            check_image(req, spec["uuid"])
    volume_ids = [s["uuid"] for s in cmd.block_devices if s["source_type"] == "volume"]
    if cmd.block_devices and req.deps.volume is None:
        raise BadRequest("Block storage is not available in this cloud: cannot boot with volumes.")
    if not volume_ids:
        return cmd
    if cmd.max_count > 1:
        raise BadRequest("Cannot attach one or more volumes to multiple instances")
    if len(set(volume_ids)) != len(volume_ids):
        raise BadRequest("Block Device Mapping is Invalid: a volume is mapped twice.")
    volumes = req.deps.volume
    server_id = str(uuid.uuid4())
    reserved: dict[str, str] = {}
    try:
        for volume_id in volume_ids:
            try:
                volumes.get_volume(req.ctx, volume_id)
            except NotFound:
                raise BadRequest(f"Block Device Mapping is Invalid: failed to get volume {volume_id}.") from None
            reserved[volume_id] = volumes.reserve(req.ctx, volume_id, server_id)
    except Exception:
        release(req, server_id, list(reserved.items()))
        raise
    return dataclasses.replace(cmd, server_id=server_id, attachment_ids=reserved)


def unreserve(req: ApiRequest, cmd: CreateServer) -> None:
    release(req, cmd.server_id or "", list(cmd.attachment_ids.items()))


def forget(uow, instance: Instance) -> list[tuple[str, str]]:
    """Drop the mappings of a server deleted before any host had it; what stays reserved for it."""
    held = []
    for row in bd.mappings(uow, instance.id):
        if row.volume_id and row.attachment_id:
            held.append((row.volume_id, row.attachment_id))
        uow.session.delete(row)
    if held or instance.block_devices:
        bd.refresh_summary(uow, instance)
    return held


def release(req: ApiRequest, server_id: str, held: list[tuple[str, str]]) -> None:
    volumes = req.deps.volume
    for volume_id, attachment_id in held:
        with contextlib.suppress(ApiError):
            volumes.unreserve(volume_id, attachment_id)
