"""The published JSON schemas (glanceclient and openstacksdk-based tools read them)."""

from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..schemas.images import image_schema, images_schema
from ..schemas.members import member_schema, members_schema


def show_image_schema(req: ApiRequest):
    return json_response(image_schema())


def show_images_schema(req: ApiRequest):
    return json_response(images_schema())


def show_member_schema(req: ApiRequest):
    return json_response(member_schema())


def show_members_schema(req: ApiRequest):
    return json_response(members_schema())
