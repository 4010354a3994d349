"""Image members: the projects a ``shared`` image is offered to, and their answer."""

from __future__ import annotations

from sqlalchemy import select

from onestack.core.context import RequestContext
from onestack.core.errors import BadRequest, Conflict, Forbidden, NotFound, RequestEntityTooLarge

from ..model import Image, ImageMember
from .images import MEMBER_STATUSES, _now


def require_shared(image: Image) -> None:
    if image.visibility != "shared":
        raise Forbidden("Only shared images have members.")


def list_members(uow, ctx: RequestContext | None, image: Image) -> list[ImageMember]:
    require_shared(image)
    members = sorted(image.members, key=lambda m: (m.created_at, m.id))
    if ctx is None or ctx.is_admin or image.owner == ctx.project_id:
        return members
    return [m for m in members if m.member == ctx.project_id]


def get_member(uow, ctx: RequestContext | None, image: Image, member_id: str) -> ImageMember:
    require_shared(image)
    for m in image.members:
        if m.member == member_id and (ctx is None or ctx.is_admin or image.owner == ctx.project_id
                                      or m.member == ctx.project_id):
            return m
    raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")


def add_member(uow, settings, image: Image, member_id: str) -> ImageMember:
    require_shared(image)
    if not isinstance(member_id, str) or not member_id:
        raise BadRequest("Member can't be empty")
    if any(m.member == member_id for m in image.members):
        raise Conflict(f"Member {member_id} is duplicated for image {image.id}")
    if len(image.members) + 1 > settings.image_member_quota:
        raise RequestEntityTooLarge(f"Image member limit exceeded for image {image.id}: a maximum of "
                                    f"{settings.image_member_quota} members is allowed.")
    member = ImageMember(image_id=image.id, member=member_id, status="pending")
    image.members.append(member)
    uow.flush()
    return member


def update_member(uow, image: Image, member: ImageMember, status: str) -> ImageMember:
    if status not in MEMBER_STATUSES:
        raise BadRequest(f"Incorrect request: Invalid status: {status}")
    member.status = status
    member.updated_at = _now()
    uow.flush()
    return member


def delete_member(uow, image: Image, member: ImageMember) -> None:
    image.members.remove(member)
    uow.flush()


def images_shared_with(uow, project_id: str) -> list[str]:
    return list(uow.session.scalars(select(ImageMember.image_id).where(ImageMember.member == project_id)))
