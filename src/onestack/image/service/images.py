"""Image records: visibility rules, create, list (filters, sorting, markers), JSON-Patch updates,
delete, deactivate/reactivate and tags."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.exc import IntegrityError

from onestack.core.context import RequestContext
from onestack.core.errors import BadRequest, Conflict, Forbidden, NotFound, RequestEntityTooLarge

from .. import states
from ..model import Image, ImageMember, ImageProperty, ImageTag
from . import quotas

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

# Attributes of the image itself (everything else is a custom property).
CORE = ("id", "name", "disk_format", "container_format", "size", "virtual_size", "status", "visibility",
        "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "owner", "protected", "os_hidden",
        "created_at", "updated_at", "tags")
WRITABLE_CORE = ("name", "disk_format", "container_format", "visibility", "min_disk", "min_ram", "owner",
                 "protected", "os_hidden", "tags")
READ_ONLY = ("created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url", "self",
             "file", "schema", "id", "os_hash_algo", "os_hash_value")
DISALLOWED_ON_CREATE = ("direct_url", "self", "file", "schema", "stores")
RESERVED = ("location", "deleted", "deleted_at")
RESERVED_NAMESPACE = "os_glance"
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")


def not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}")


# -- visibility -----------------------------------------------------------------------------------


def is_member(image: Image, project_id: str | None, statuses: Sequence[str] | None = None) -> bool:
    if not project_id:
        return False
    return any(m.member == project_id and (statuses is None or m.status in statuses) for m in image.members)


def visible(ctx: RequestContext | None, image: Image) -> bool:
    """Can ``ctx`` see ``image`` at all (None: internal callers and admins see everything)."""
    if ctx is None or ctx.is_admin:
        return True
    if image.visibility in ("public", "community"):
        return True
    if ctx.project_id and image.owner == ctx.project_id:
        return True
    return image.visibility == "shared" and is_member(image, ctx.project_id)


def policy_target(ctx: RequestContext | None, image: Image) -> dict:
    """The target upstream's policy rules read (``%(project_id)s`` is the image's owner)."""
    member = ctx.project_id if ctx is not None and is_member(image, ctx.project_id) else None
    return {"project_id": image.owner, "owner": image.owner, "visibility": image.visibility,
            "member_id": member, "protected": image.protected}


def get_image(uow, ctx: RequestContext | None, image_id: str, lock: bool = False) -> Image:
    q = select(Image).where(Image.id == image_id)
    if lock:
        q = q.with_for_update()
    image = uow.session.scalar(q)
    if image is None or not visible(ctx, image):
        raise not_found(image_id)
    return image


# -- create ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateImage:
    owner: str | None
    id: str | None = None
    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    min_disk: int = 0
    min_ram: int = 0
    tags: tuple[str, ...] = ()
    properties: dict = field(default_factory=dict)


def _check_values(values: dict) -> None:
    for key in ("min_disk", "min_ram"):
        if key in values and (not isinstance(values[key], int) or values[key] < 0):
            raise BadRequest(f"Cannot set {key} to a negative value." if isinstance(values[key], int)
                             else f"Invalid value for {key}: an integer is expected.")
    if values.get("visibility") not in (None, *VISIBILITIES):
        raise BadRequest(f"Invalid visibility value: {values['visibility']}")


def _check_limits(settings, image: Image, properties: dict, tags: Sequence[str]) -> None:
    if len(properties) > settings.image_property_quota:
        raise RequestEntityTooLarge(f"Attempted to add or update properties on image {image.id}: a maximum of "
                                    f"{settings.image_property_quota} properties is allowed.")
    if len(tags) > settings.image_tag_quota:
        raise RequestEntityTooLarge(f"Attempted to add tags to image {image.id}: a maximum of "
                                    f"{settings.image_tag_quota} tags is allowed.")


def create_image(uow, settings, cmd: CreateImage, count_limit: int | None) -> Image:
    values = {"min_disk": cmd.min_disk, "min_ram": cmd.min_ram, "visibility": cmd.visibility}
    _check_values(values)
    image_id = cmd.id or str(uuid.uuid4())
    session = uow.session
    quotas.check_count(session, count_limit, cmd.owner)
    if session.get(Image, image_id) is not None:
        raise Conflict(f"Image with identifier {image_id} already exists!")
    image = Image(id=image_id, name=cmd.name, disk_format=cmd.disk_format, container_format=cmd.container_format,
                  visibility=cmd.visibility, protected=cmd.protected, os_hidden=cmd.os_hidden,
                  min_disk=cmd.min_disk, min_ram=cmd.min_ram, owner=cmd.owner, status=states.QUEUED)
    tags = list(dict.fromkeys(cmd.tags))
    _check_limits(settings, image, cmd.properties, tags)
    image.properties = [ImageProperty(name=k, value=v) for k, v in cmd.properties.items()]
    image.tags = [ImageTag(value=t) for t in tags]
    session.add(image)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"Image with identifier {image_id} already exists!") from None
    return image


# -- list -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cond:
    """One filter: ``field`` compared with ``op`` (eq, neq, in, gt, gte, lt, lte) to ``value``."""

    field: str
    op: str
    value: object


@dataclass(frozen=True)
class ListImages:
    conds: tuple[Cond, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    visibility: str | None = None
    member_status: str = "accepted"
    os_hidden: bool = False
    sort_keys: tuple[str, ...] = ("created_at",)
    sort_dirs: tuple[str, ...] = ("desc",)
    limit: int = 25
    marker: str | None = None


_OPS: dict[str, Callable] = {
    "eq": lambda c, v: c == v, "neq": lambda c, v: c != v, "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v, "lt": lambda c, v: c < v, "lte": lambda c, v: c <= v,
    "in": lambda c, v: c.in_(v),
}


def _access(ctx: RequestContext | None, q: ListImages):
    """Which rows ``ctx`` may list, as upstream unions them for non-admins."""
    vis = Image.visibility
    conds = []
    if q.visibility is None:
        owner_cond = Image.owner == ctx.project_id if ctx is not None and ctx.project_id else false()
        conds.append(or_(vis != "community", owner_cond))  # community images only when asked for
    elif q.visibility != "all":
        conds.append(vis == q.visibility)
    if ctx is None or ctx.is_admin:
        return and_(*conds) if conds else None
    project = ctx.project_id
    member = select(ImageMember.id).where(ImageMember.image_id == Image.id, ImageMember.member == project)
    if q.member_status != "all":
        member = member.where(ImageMember.status == q.member_status)
    allowed = [vis == "public", vis == "community", and_(vis == "shared", exists(member))]
    if project:
        allowed.append(Image.owner == project)
    conds.append(or_(*allowed))
    return and_(*conds)


def _where(ctx: RequestContext | None, q: ListImages) -> list:
    where = []
    access = _access(ctx, q)
    if access is not None:
        where.append(access)
    if not q.os_hidden:
        where.append(Image.os_hidden == false())
    for cond in q.conds:
        column = getattr(Image, cond.field)
        where.append(_OPS[cond.op](column, cond.value))
    for tag in q.tags:
        where.append(exists(select(ImageTag.value).where(ImageTag.image_id == Image.id, ImageTag.value == tag)))
    for name, value in q.properties:
        where.append(exists(select(ImageProperty.name).where(
            ImageProperty.image_id == Image.id, ImageProperty.name == name, ImageProperty.value == value)))
    return where


def list_images(uow, ctx: RequestContext | None, q: ListImages) -> tuple[list[Image], str | None]:
    """One page of images and the marker of the next page (None: this page is not full)."""
    order = []
    keys = list(q.sort_keys)
    dirs = list(q.sort_dirs) + [q.sort_dirs[-1]] * (len(keys) - len(q.sort_dirs))
    for extra in ("created_at", "id"):
        if extra not in keys:
            keys.append(extra)
            dirs.append(dirs[0] if dirs else "desc")
    for key, direction in zip(keys, dirs, strict=True):
        column = getattr(Image, key)
        order.append(column.asc() if direction == "asc" else column.desc())
    ids = list(uow.session.scalars(select(Image.id).where(*_where(ctx, q)).order_by(*order)))
    start = 0
    if q.marker is not None:
        try:
            start = ids.index(q.marker) + 1
        except ValueError:
            raise BadRequest(f"Invalid marker: image {q.marker} could not be found.") from None
    chosen = ids[start:start + q.limit]
    rows = {i.id: i for i in uow.session.scalars(select(Image).where(Image.id.in_(chosen)))} if chosen else {}
    images = [rows[i] for i in chosen if i in rows]
    next_marker = images[-1].id if images and len(chosen) == q.limit else None
    return images, next_marker


# -- update (JSON Patch) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    op: str  # add | replace | remove
    path: str  # the property name (path root)
    value: object = None
    draft4: bool = False  # the v2.0 patch media type (add of an existing property is a conflict)


def _set_core(image: Image, key: str, value) -> None:
    if key == "tags":
        if not isinstance(value, list):
            raise BadRequest("Invalid value for tags: a list of strings is expected.")
        image.tags = [ImageTag(value=t) for t in dict.fromkeys(value)]
        return
    if key in ("disk_format", "container_format") and image.status != states.QUEUED \
            and getattr(image, key) != value:
        raise Forbidden(f"Attribute {key} can be only replaced for a queued image.")
    _check_values({key: value})
    setattr(image, key, value)


def update_image(uow, settings, image: Image, changes: Sequence[Change]) -> Image:
    props = image.extra()
    for ch in changes:
        key = ch.path
        if ch.op == "remove":
            if key in WRITABLE_CORE:
                raise Forbidden(f"Property {key} may not be removed.")
            if key not in props:
                raise Conflict(f"Property {key} does not exist.")
            del props[key]
        elif ch.op == "replace":
            if key in WRITABLE_CORE:
                _set_core(image, key, ch.value)
            elif key in props:
                props[key] = ch.value
            else:
                raise Conflict(f"Property {key} does not exist.")
        elif ch.op == "add":
            if ch.draft4 and (key in WRITABLE_CORE or key in props):
                raise Conflict(f"Property {key} already present.")
            if key in WRITABLE_CORE:
                _set_core(image, key, ch.value)
            else:
                props[key] = ch.value
        else:
            raise BadRequest(f"Invalid operation: `{ch.op}`. It must be one of the following: add, remove, replace.")
    _check_limits(settings, image, props, [t.value for t in image.tags])
    current = {p.name: p for p in image.properties}
    image.properties = [current[k] if k in current and current[k].value == v else
                        (_update(current[k], v) if k in current else ImageProperty(name=k, value=v))
                        for k, v in sorted(props.items())]
    image.updated_at = _now()
    uow.flush()
    return image


def _update(prop: ImageProperty, value: str) -> ImageProperty:
    prop.value = value
    return prop


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- delete, deactivate, reactivate ---------------------------------------------------------------


def delete_image(uow, image: Image, on_deleted: Callable[[str], None]) -> None:
    if image.protected:
        raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
    image_id = image.id
    uow.session.delete(image)
    uow.flush()
    uow.after_commit(lambda: on_deleted(image_id))


def deactivate_image(uow, image: Image) -> None:
    if image.status == states.DEACTIVATED:
        return
    if image.status != states.ACTIVE:
        raise Forbidden(f"Not allowed to deactivate image in status '{image.status}'")
    image.status = states.DEACTIVATED
    image.updated_at = _now()


def reactivate_image(uow, image: Image) -> None:
    if image.status == states.ACTIVE:
        return
    if image.status != states.DEACTIVATED:
        raise Forbidden(f"Not allowed to reactivate image in status '{image.status}'")
    image.status = states.ACTIVE
    image.updated_at = _now()


# -- tags -----------------------------------------------------------------------------------------


def add_tag(uow, settings, image: Image, tag: str) -> None:
    if len(tag) > 255:
        raise BadRequest("Tag is longer than 255 characters.")
    if tag in [t.value for t in image.tags]:
        return
    if len(image.tags) + 1 > settings.image_tag_quota:
        raise RequestEntityTooLarge(f"Attempted to add a tag to image {image.id}: a maximum of "
                                    f"{settings.image_tag_quota} tags is allowed.")
    image.tags.append(ImageTag(value=tag))
    image.updated_at = _now()


def delete_tag(uow, image: Image, tag: str) -> None:
    for t in image.tags:
        if t.value == tag:
            image.tags.remove(t)
            image.updated_at = _now()
            return
    raise NotFound(f"Tag {tag} not found.")
