"""Image members: share a ``shared`` image with projects; members accept or reject it."""

from __future__ import annotations

from onestack.core.errors import BadRequest, Forbidden, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas.members import CREATE_MEMBER, UPDATE_MEMBER
from ..service import images as images_svc
from ..service import members as svc
from ..views import members as views
from .common import load


def _target(req: ApiRequest, image, member_id: str | None = None) -> dict:
    target = images_svc.policy_target(req.ctx, image)
    if member_id is not None:
        target["member_id"] = member_id
    return target


def list_members(req: ApiRequest):
    with req.deps.uow() as uow:
        image = load(req, uow)
        svc.require_shared(image)
        if not req.allowed("get_members", _target(req, image, req.ctx.project_id
                                                  if images_svc.is_member(image, req.ctx.project_id) else None)):
            raise Forbidden(f"Not allowed to list members for image {image.id}.")
        out = views.members(svc.list_members(uow, req.ctx, image))
    return json_response(out)


def show_member(req: ApiRequest):
    member_id = req.params["member_id"]
    with req.deps.uow() as uow:
        image = load(req, uow)
        try:
            member = svc.get_member(uow, req.ctx, image, member_id)
        except Forbidden as exc:
            raise NotFound(exc.message) from None
        if not req.allowed("get_member", _target(req, image, member.member)):
            raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")
        out = views.member(member)
    return json_response(out)


def create_member(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or "member" not in body:
        raise BadRequest("Member to be added not specified")
    if not body.get("member"):
        raise BadRequest("Member can't be empty")
    validate(CREATE_MEMBER, body)
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        svc.require_shared(image)
        if not req.allowed("add_member", _target(req, image)):
            raise Forbidden(f"Not allowed to create members for image {image.id}.")
        out = views.member(svc.add_member(uow, req.deps.settings, image, body["member"]))
    return json_response(out)


def update_member(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or "status" not in body:
        raise BadRequest("Status not specified")
    if body.get("status") not in ("pending", "accepted", "rejected"):
        raise BadRequest(f"Incorrect request: Invalid status: {body.get('status')}")
    validate(UPDATE_MEMBER, body)
    member_id = req.params["member_id"]
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        member = svc.get_member(uow, req.ctx, image, member_id)
        if not req.allowed("modify_member", _target(req, image, member.member)):
            raise Forbidden(f"Not allowed to update members for image {image.id}.")
        out = views.member(svc.update_member(uow, image, member, body["status"]))
    return json_response(out)


def delete_member(req: ApiRequest):
    member_id = req.params["member_id"]
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        member = svc.get_member(uow, req.ctx, image, member_id)
        if not req.allowed("delete_member", _target(req, image)):
            raise Forbidden(f"Not allowed to delete members for image {image.id}.")
        svc.delete_member(uow, image, member)
    return empty_response(204)
