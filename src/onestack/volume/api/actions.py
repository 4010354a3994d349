"""``POST /volumes/{volume_id}/action``: one handler per action key, as upstream names them."""

from __future__ import annotations

from onestack.core.errors import BadRequest, NotImplementedYet
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..model import VolumeType
from ..schemas import volumes as schemas
from ..service import attachments as att_svc
from ..service import volumes as svc
from ..service.common import parse_bool
from ..views.common import iso
from ..views.types import volume_type as type_view
from .common import caller, target, version


def _volume(req: ApiRequest, uow, rule: str):
    row = svc.get_volume(uow, req.params["volume_id"], caller(req))
    req.enforce(rule, target(req, row.project_id))
    return row


def extend(req: ApiRequest, args: dict):
    args = validate(schemas.EXTEND, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume:extend")
        attached_ok = version(req).matches("3.42")
        if attached_ok and row.status == "in-use":
            req.enforce("volume:extend_attached_volume", target(req, row.project_id))
        svc.extend_volume(uow, caller(req), row.id, int(args["new_size"]), req.deps.limits, attached_ok)
    return empty_response(202)


def set_bootable(req: ApiRequest, args: dict):
    args = validate(schemas.SET_BOOTABLE, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume:update")
        svc.set_bootable(uow, caller(req), row.id, parse_bool(args["bootable"], "bootable"))
    return empty_response(200)


def update_readonly_flag(req: ApiRequest, args: dict):
    args = validate(schemas.READONLY, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume:update_readonly_flag")
        svc.update_readonly_flag(uow, caller(req), row.id, parse_bool(args["readonly"], "readonly"))
    return empty_response(202)


def reset_status(req: ApiRequest, args: dict):
    args = validate(schemas.RESET_STATUS, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_admin_actions:reset_status")
        if not any(args.get(k) for k in ("status", "attach_status", "migration_status")):
            raise BadRequest("Invalid input received: Must specify 'status', 'attach_status' or "
                             "'migration_status' for update.")
        svc.reset_status(uow, caller(req), row.id, args.get("status"), args.get("attach_status"),
                         args.get("migration_status"))
    return empty_response(202)


def force_delete(req: ApiRequest, args):
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_admin_actions:force_delete")
        svc.delete_volume(uow, caller(req), row.id, cascade=True, force=True)
    return empty_response(202)


def retype(req: ApiRequest, args: dict):
    args = validate(schemas.RETYPE, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume:retype")
        svc.retype_volume(uow, caller(req), row.id, args["new_type"], args.get("migration_policy") or "never")
    return empty_response(202)


def upload_image(req: ApiRequest, args: dict):
    args = validate(schemas.UPLOAD_IMAGE, args)
    images = req.deps.images
    if images is None or not hasattr(images, "create_image"):
        raise NotImplementedYet("Uploading a volume to an image needs the image service, which this deployment "
                                "does not run.")
    force = parse_bool(args.get("force", False), "force")
    disk_format = args.get("disk_format", "raw")
    if disk_format not in ("raw", "qcow2"):
        raise BadRequest(f"Invalid input received: disk_format {disk_format!r} is not supported by this backend; "
                         "use raw or qcow2.")
    container_format = args.get("container_format", "bare")
    visibility = args.get("visibility", "private")
    protected = parse_bool(args.get("protected", False), "protected")
    with req.deps.uow() as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:upload_image")
        if visibility == "public":
            req.enforce("volume_extension:volume_actions:upload_public", target(req, row.project_id))
        allowed = ("available", "in-use") if force else ("available",)
        if row.status not in allowed:
            raise BadRequest(f"Invalid volume: Volume {row.id} status must be available or in-use with force, "
                             f"but current status is: {row.status}.")
        properties = {k: v for k, v in (row.image_metadata or {}).items()
                      if k not in ("image_id", "checksum", "size", "disk_format", "container_format",
                                   "image_name", "min_disk", "min_ram")}
        size = row.size
    image = images.create_image(req.ctx, name=args["image_name"], disk_format=disk_format,
                                container_format=container_format, visibility=visibility, protected=protected,
                                min_disk=size, **properties)
    image_id = image["id"] if isinstance(image, dict) else image.id
    with req.deps.uow(write=True) as uow:
        row = svc.begin_upload(uow, caller(req), req.params["volume_id"], image_id, disk_format, force)
        vtype = uow.session.get(VolumeType, row.volume_type_id) if row.volume_type_id else None
    body = {"id": row.id, "updated_at": iso(row.updated_at), "status": row.status,
            "display_description": row.description, "size": row.size,
            "volume_type": type_view(vtype, False) if vtype else None, "image_id": image_id,
            "container_format": container_format, "disk_format": disk_format, "image_name": args["image_name"]}
    if version(req).matches("3.1"):
        body["visibility"] = visibility
        body["protected"] = protected
    return json_response({"os-volume_upload_image": body}, 202)


def reserve(req: ApiRequest, args):
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:reserve")
        att_svc.reserve(uow, caller(req), row.id)
    return empty_response(202)


def unreserve(req: ApiRequest, args):
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:unreserve")
        att_svc.unreserve(uow, caller(req), row.id)
    return empty_response(202)


def attach(req: ApiRequest, args: dict):
    args = validate(schemas.ATTACH, args or {})
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:attach")
        att_svc.attach(uow, caller(req), row.id, args.get("instance_uuid"), args.get("host_name"),
                       args.get("mountpoint"), args.get("mode", "rw"))
    return empty_response(202)


def detach(req: ApiRequest, args):
    args = validate(schemas.DETACH, args or {})
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:detach")
        att_svc.detach(uow, caller(req), row.id, (args or {}).get("attachment_id"))
    return empty_response(202)


def begin_detaching(req: ApiRequest, args):
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:begin_detaching")
        att_svc.begin_detaching(uow, caller(req), row.id)
    return empty_response(202)


def roll_detaching(req: ApiRequest, args):
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:roll_detaching")
        att_svc.roll_detaching(uow, caller(req), row.id)
    return empty_response(202)


def initialize_connection(req: ApiRequest, args):
    with req.deps.uow() as uow:
        row = _volume(req, uow, "volume_extension:volume_actions:initialize_connection")
        mode = (row.admin_metadata or {}).get("attached_mode") or (
            "ro" if (row.admin_metadata or {}).get("readonly") == "True" else "rw")
        return json_response({"connection_info": att_svc.connection_info(row, mode)})


def terminate_connection(req: ApiRequest, args):
    with req.deps.uow() as uow:
        _volume(req, uow, "volume_extension:volume_actions:terminate_connection")
    return empty_response(202)


def set_image_metadata(req: ApiRequest, args: dict):
    args = validate(schemas.IMAGE_METADATA, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_image_metadata:set")
        meta = svc.set_image_metadata(uow, caller(req), row.id, args["metadata"])
    return json_response({"metadata": meta})


def unset_image_metadata(req: ApiRequest, args: dict):
    args = validate(schemas.UNSET_IMAGE_METADATA, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume_extension:volume_image_metadata:remove")
        svc.unset_image_metadata(uow, caller(req), row.id, args["key"])
    return empty_response(200)


def show_image_metadata(req: ApiRequest, args):
    with req.deps.uow() as uow:
        row = _volume(req, uow, "volume_extension:volume_image_metadata:show")
        return json_response({"metadata": dict(row.image_metadata or {})})


def revert(req: ApiRequest, args: dict):
    if not version(req).matches("3.40"):
        raise BadRequest("There is no such action: revert")
    args = validate(schemas.REVERT, args)
    with req.deps.uow(write=True) as uow:
        row = _volume(req, uow, "volume:revert_to_snapshot")
        svc.revert_to_snapshot(uow, caller(req), row.id, args["snapshot_id"])
    return empty_response(202)


ACTIONS = {
    "os-extend": extend,
    "os-set_bootable": set_bootable,
    "os-update_readonly_flag": update_readonly_flag,
    "os-reset_status": reset_status,
    "os-force_delete": force_delete,
    "os-retype": retype,
    "os-volume_upload_image": upload_image,
    "os-reserve": reserve,
    "os-unreserve": unreserve,
    "os-attach": attach,
    "os-detach": detach,
    "os-begin_detaching": begin_detaching,
    "os-roll_detaching": roll_detaching,
    "os-initialize_connection": initialize_connection,
    "os-terminate_connection": terminate_connection,
    "os-set_image_metadata": set_image_metadata,
    "os-unset_image_metadata": unset_image_metadata,
    "os-show_image_metadata": show_image_metadata,
    "revert": revert,
}


def volume_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid input received: the action body must name exactly one action.")
    (name, args), = body.items()
    handler = ACTIONS.get(name)
    if handler is None:
        raise BadRequest(f"There is no such action: {name}")
    return handler(req, args)
