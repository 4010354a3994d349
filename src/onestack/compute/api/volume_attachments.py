"""``/servers/{id}/os-volume_attachments``: list, show, attach, update (2.85) or swap, detach.

Attach reserves the volume in block storage (``reserved``) before the mapping is recorded, so two
servers cannot race for one volume; the host agent then connects it (``attaching`` → ``in-use``).
Detach moves the volume to ``detaching`` here and the agent finishes it (``available``).  A server
without a host (shelved offloaded) has nothing to connect: its bookkeeping completes here.
"""

from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.pagination import parse_limit

from ..schemas import volume_attachments as schemas
from ..service import block_devices as bd
from ..service import servers as svc
from ..views import volume_attachments as views
from .common import MAX_LIMIT, body_of, by_version, parse_int
from .servers import authorized_server, caller

RULE = "os_compute_api:os-volumes-attachments"


def _volumes(req: ApiRequest):
    client = req.deps.volume
    if client is None:
        raise BadRequest("Block storage is not available in this cloud.")
    return client


def _server(req: ApiRequest, uow, rule: str, lock: bool = False):
    return authorized_server(req, uow, f"{RULE}:{rule}", lock=lock)


def list_attachments(req: ApiRequest):
    limit = parse_limit(req.query.get("limit"), MAX_LIMIT) or MAX_LIMIT
    offset = parse_int("offset", req.query.get("offset"), 0) or 0
    with req.deps.uow() as uow:
        server = _server(req, uow, "index")
        rows = [b for b in bd.mappings(uow, server.id) if b.volume_id and b.status != bd.SWAPPING]
        rows = rows[offset:offset + limit]
        return json_response({"volumeAttachments": [views.attachment(b, req.version) for b in rows]})


def show_attachment(req: ApiRequest):
    with req.deps.uow() as uow:
        server = _server(req, uow, "show")
        try:
            row = bd.get_mapping(uow, server.id, req.params["volume_id"])
        except NotFound:
            raise NotFound("The volume was either invalid or not attached to the instance.") from None
        return json_response({"volumeAttachment": views.attachment(row, req.version)})


def create_attachment(req: ApiRequest):
    schema = by_version(req, ("2.1", schemas.CREATE), ("2.49", schemas.CREATE_V2_49), ("2.79", schemas.CREATE_V2_79))
    body = body_of(req, schema, "volumeAttachment")
    volume_id = body["volumeId"]
    who = caller(req)
    with req.deps.uow() as uow:
        server = _server(req, uow, "create")
        device = bd.check_attach(uow, server, volume_id, bd.normalize_device(body.get("device")), who.admin)
        server_id = server.id
    volumes = _volumes(req)
    volumes.get_volume(req.ctx, volume_id)  # 404 when the caller cannot see it
    attachment_id = volumes.reserve(req.ctx, volume_id, server_id)
    try:
        with req.deps.uow(write=True) as uow:
            server = _server(req, uow, "create", lock=True)
            row = bd.attach_volume(uow, server, volume_id, device, body.get("tag"),
                                   bool(body.get("delete_on_termination", False)), attachment_id, who.admin)
            offloaded = server.host is None
            if offloaded:  # shelved offloaded: nothing to connect until it is unshelved
                row.status = bd.ATTACHED
            svc.record_action(uow, server, "attach_volume", who, finished=offloaded)
            doc = views.created(row, req.version)
        if offloaded:
            volumes.complete(attachment_id)
    except Exception:
        volumes.unreserve(volume_id, attachment_id)
        raise
    return json_response({"volumeAttachment": doc})


def update_attachment(req: ApiRequest):
    schema = by_version(req, ("2.1", schemas.UPDATE), ("2.85", schemas.UPDATE_V2_85), ("2.89", schemas.UPDATE_V2_89))
    body = body_of(req, schema, "volumeAttachment")
    old, new = req.params["volume_id"], body["volumeId"]
    if req.version.matches("2.85") and old == new:
        with req.deps.uow(write=True) as uow:
            server = _server(req, uow, "update", lock=True)
            bd.update_mapping(uow, server, old, body)
        return empty_response(202)
    return _swap(req, old, new)


def _swap(req: ApiRequest, old: str, new: str):
    """The new volume takes the old one's place (same device): the host agent copies the data and
    re-plugs the guest; the old volume becomes available, the new one in-use."""
    who = caller(req)
    with req.deps.uow() as uow:
        server = _server(req, uow, "swap")
        bd.check_swap(uow, server, old, new, who.admin)
        server_id = server.id
    volumes = _volumes(req)
    old_doc, new_doc = volumes.get_volume(req.ctx, old), volumes.get_volume(req.ctx, new)
    if new_doc["size"] < old_doc["size"]:
        raise BadRequest(f"Invalid volume: the new volume ({new_doc['size']} GiB) is smaller than volume {old} "
                         f"({old_doc['size']} GiB).")
    attachment_id = volumes.reserve(req.ctx, new, server_id)
    try:
        volumes.begin_detaching(old)
        try:
            with req.deps.uow(write=True) as uow:
                server = _server(req, uow, "swap", lock=True)
                bd.swap_volume(uow, server, old, new, attachment_id, who.admin)
                svc.record_action(uow, server, "swap_volume", who)
        except Exception:
            volumes.roll_detaching(old)
            raise
    except Exception:
        volumes.unreserve(new, attachment_id)
        raise
    return empty_response(202)


def delete_attachment(req: ApiRequest):
    volume_id = req.params["volume_id"]
    who = caller(req)
    with req.deps.uow() as uow:
        server = _server(req, uow, "delete")
        bd.check_detach(uow, server, volume_id, who.admin)
        server_id = server.id
    volumes = _volumes(req)
    volumes.begin_detaching(volume_id)
    try:
        with req.deps.uow(write=True) as uow:
            server = _server(req, uow, "delete", lock=True)
            row = bd.detach_volume(uow, server, volume_id, who.admin)
            offloaded = server.host is None
            if offloaded:
                uow.session.delete(row)
                bd.refresh_summary(uow, server)
            svc.record_action(uow, server, "detach_volume", who, finished=offloaded)
        if offloaded:
            volumes.detach(volume_id, server_id, disconnect=False)
    except Exception:
        volumes.roll_detaching(volume_id)
        raise
    return empty_response(202)
