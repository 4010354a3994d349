"""Helpers shared by image handlers: loading a visible image and authorizing against it."""

from __future__ import annotations

from onestack.core.errors import BadRequest, Forbidden, NotFound
from onestack.core.http import ApiRequest

from ..model import Image
from ..service import images as svc

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def load(req: ApiRequest, uow, rule: str | None = None, image_id: str | None = None, lock: bool = False) -> Image:
    """The image if the caller can see it (else 404), authorized by ``rule`` (else 403)."""
    image = svc.get_image(uow, req.ctx, image_id or req.params["image_id"], lock=lock)
    if not req.allowed("get_image", svc.policy_target(req.ctx, image)):
        raise svc.not_found(image.id)
    if rule is not None:
        enforce(req, rule, image)
    return image


def enforce(req: ApiRequest, rule: str, image: Image, message: str | None = None) -> None:
    if not req.allowed(rule, svc.policy_target(req.ctx, image)):
        raise Forbidden(message or f"You are not authorized to complete {rule} action.")


def parse_bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise BadRequest(f"Invalid value '{value}' for {name}: expected true or false.")


def trailing_slash(req: ApiRequest) -> bool:
    return req.raw.url.path.endswith("/")


def no_resource() -> NotFound:
    return NotFound("The resource could not be found.")
