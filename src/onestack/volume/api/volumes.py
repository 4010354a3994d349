"""Volumes: CRUD, metadata and image metadata."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..model import VolumeType
from ..schemas.volumes import CREATE_VOLUME, UPDATE_VOLUME
from ..service import volumes as svc
from ..service.attachments import attachments_for
from ..service.common import parse_bool, time_filter
from ..views import volumes as view
from ..views.common import collection
from .common import all_tenants, base, body_of, caller, list_params, parse_json_filter, target, version
from .metadata import MetadataApi

_FILTERS = ("name", "status", "availability_zone", "migration_status", "group_id", "size", "volume_type",
            "attach_status", "user_id", "project_id", "id")


def render(req: ApiRequest, uow, rows: list, extended: bool = True) -> list[dict]:
    who = caller(req)
    types = {t.id: t.name for t in uow.session.scalars(select(VolumeType))}
    attachments = attachments_for(uow, [r.id for r in rows])
    return [view.detail(r, base(req), version(req), attachments[r.id], types.get(r.volume_type_id), who.is_admin,
                        extended) for r in rows]


def show_one(req: ApiRequest, uow, row, extended: bool = True) -> dict:
    return render(req, uow, [row], extended)[0]


def image_info(req: ApiRequest, image_id: str) -> svc.ImageInfo:
    """Look the source image up through the image service's client (400 if there is none)."""
    images = req.deps.images
    if images is None:
        raise BadRequest("Invalid input received: creating a volume from an image needs the image service, "
                         "which this deployment does not run.")
    try:
        image = images.get_image(req.ctx, image_id)
    except Exception as exc:  # the image client raises its own NotFound
        if getattr(exc, "status", None) == 404 or type(exc).__name__ in ("NotFound", "ImageNotFound"):
            raise BadRequest(f"Invalid image identifier or unable to access requested image: {image_id}") from None
        raise
    if image is None:
        raise BadRequest(f"Invalid image identifier or unable to access requested image: {image_id}")
    if not isinstance(image, dict):
        image = dict(image.__dict__) if hasattr(image, "__dict__") else {}
    if image.get("status", "active") != "active":
        raise BadRequest(f"Invalid input received: Image {image_id} is not active.")
    return svc.ImageInfo(id=image_id, size=image.get("size"), min_disk=image.get("min_disk") or 0,
                         disk_format=image.get("disk_format"), container_format=image.get("container_format"),
                         properties={"name": image.get("name"), "checksum": image.get("checksum")})


def create_volume(req: ApiRequest):
    req.enforce("volume:create", target(req))
    body = body_of(req, CREATE_VOLUME, "volume")
    image_ref = body.get("imageRef") or body.get("image_id")
    image = image_info(req, image_ref) if image_ref else None
    if image is not None:
        req.enforce("volume:create_from_image", target(req))
    cmd = svc.CreateVolume(
        size=int(body["size"]) if body.get("size") is not None else None,
        name=body.get("name", body.get("display_name")),
        description=body.get("description", body.get("display_description")),
        volume_type=body.get("volume_type"),
        availability_zone=body.get("availability_zone"),
        image_id=image_ref,
        snapshot_id=body.get("snapshot_id"),
        source_volid=body.get("source_volid"),
        backup_id=body.get("backup_id") if version(req).matches("3.47") else None,
        metadata={k: v for k, v in (body.get("metadata") or {}).items()},
        multiattach=parse_bool(body.get("multiattach", False), "multiattach"),
    )
    with req.deps.uow(write=True) as uow:
        row = svc.create_volume(uow, caller(req), cmd, req.deps.limits, req.deps.zone, image)
        out = show_one(req, uow, row, extended=False)
    return json_response({"volume": out}, 202)


def _filters(req: ApiRequest) -> dict:
    filters: dict = {}
    for key in _FILTERS:
        if key in req.query:
            filters[key] = req.query[key]
    for key in ("display_name",):
        if key in req.query:
            filters["name"] = req.query[key]
    if "bootable" in req.query:
        filters["bootable"] = parse_bool(req.query["bootable"], "bootable")
    if "metadata" in req.query:
        filters["metadata"] = parse_json_filter(req.query["metadata"], "metadata")
    if "glance_metadata" in req.query and version(req).matches("3.4"):
        filters["glance_metadata"] = parse_json_filter(req.query["glance_metadata"], "glance_metadata")
    if version(req).matches("3.34"):
        for key in ("name~", "status~", "availability_zone~", "description~"):
            if key in req.query:
                filters[key] = req.query[key]
    if version(req).matches("3.60"):
        for key in ("created_at", "updated_at"):
            if key in req.query:
                filters[key] = time_filter(req.query[key], key)
    return filters


def _list(req: ApiRequest, detailed: bool):
    if not detailed and req.raw.url.path.endswith("/volumes/"):
        raise NotFound("The resource could not be found.")  # GET /volumes/ is a show without an id
    req.enforce("volume:get_all", target(req))
    limit, marker, offset, keys, with_count = list_params(req, svc.SORT_KEYS)
    who = caller(req)
    with req.deps.uow() as uow:
        rows = svc.list_volumes(uow, who, _filters(req), all_tenants(req))
        types = {t.id: t.name for t in uow.session.scalars(select(VolumeType))}
        page, more = svc.sort_and_page(rows, keys, limit, marker, offset, types)
        last = page[-1].id if page else None
        items = render(req, uow, page) if detailed else [view.summary(r, base(req)) for r in page]
    body = collection("volumes", items, more, req.url, dict(req.query), last,
                      len(rows) if with_count else None)
    return json_response(body)


def list_volumes(req: ApiRequest):
    return _list(req, detailed=False)


def list_volumes_detail(req: ApiRequest):
    return _list(req, detailed=True)


def show_volume_summary(req: ApiRequest):
    """3.12: totals of the caller's volumes (3.36 adds their merged metadata)."""
    if not version(req).matches("3.12"):
        raise NotFound("The resource could not be found.")
    req.enforce("volume:get_all", target(req))
    with req.deps.uow() as uow:
        rows = svc.list_volumes(uow, caller(req), {}, all_tenants(req))
        body: dict = {"total_size": sum(r.size for r in rows), "total_count": len(rows)}
        if version(req).matches("3.36"):
            merged: dict = {}
            for row in rows:
                for key, value in (row.metadata_ or {}).items():
                    merged.setdefault(key, [])
                    if value not in merged[key]:
                        merged[key].append(value)
            body["metadata"] = merged
    return json_response({"volume-summary": body})


def show_volume(req: ApiRequest):
    with req.deps.uow() as uow:
        row = svc.get_volume(uow, req.params["volume_id"], caller(req))
        req.enforce("volume:get", target(req, row.project_id))
        return json_response({"volume": show_one(req, uow, row)})


def update_volume(req: ApiRequest):
    body = body_of(req, UPDATE_VOLUME, "volume")
    with req.deps.uow(write=True) as uow:
        row = svc.get_volume(uow, req.params["volume_id"], caller(req))
        req.enforce("volume:update", target(req, row.project_id))
        row = svc.update_volume(uow, caller(req), row.id, body)
        uow.flush()
        out = show_one(req, uow, row, extended=False)
    return json_response({"volume": out})


def delete_volume(req: ApiRequest):
    cascade = parse_bool(req.query.get("cascade", "false"), "cascade")
    force = parse_bool(req.query.get("force", "false"), "force")
    with req.deps.uow(write=True) as uow:
        row = svc.get_volume(uow, req.params["volume_id"], caller(req))
        req.enforce("volume:delete", target(req, row.project_id))
        if force:
            req.enforce("volume_extension:volume_admin_actions:force_delete", target(req, row.project_id))
        svc.delete_volume(uow, caller(req), row.id, cascade=cascade, force=force)
    return empty_response(202)


# -- metadata ------------------------------------------------------------------------------------------


def _volume_for(req: ApiRequest, uow, rule: str):
    row = svc.get_volume(uow, req.params["volume_id"], caller(req))
    req.enforce(rule, target(req, row.project_id))
    return row


METADATA = MetadataApi("Volume", _volume_for, svc, "volume:get_volume_metadata", "volume:create_volume_metadata",
                       "volume:update_volume_metadata", "volume:delete_volume_metadata")

