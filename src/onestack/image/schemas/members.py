"""The member JSON schema (published at /v2/schemas/member(s)) and request bodies."""

from __future__ import annotations

import copy

from .images import UUID_PATTERN

MEMBER_PROPERTIES = {
    "member_id": {"type": "string", "description": "The project the image is shared with"},
    "image_id": {"type": "string", "description": "Image identifier", "pattern": UUID_PATTERN},
    "created_at": {"type": "string", "description": "Creation time"},
    "updated_at": {"type": "string", "description": "Last modification time"},
    "status": {"type": "string", "description": "The member's answer", "enum": ["pending", "accepted", "rejected"]},
    "schema": {"readOnly": True, "type": "string"},
}


def member_schema() -> dict:
    return {"name": "member", "properties": copy.deepcopy(MEMBER_PROPERTIES), "additionalProperties": False}


def members_schema() -> dict:
    return {
        "name": "members",
        "properties": {"members": {"type": "array", "items": member_schema()},
                       "first": {"type": "string"}, "next": {"type": "string"}, "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


CREATE_MEMBER = {"type": "object", "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 255}},
                 "required": ["member"]}
UPDATE_MEMBER = {"type": "object", "properties": {"status": {"type": "string",
                                                             "enum": ["pending", "accepted", "rejected"]}},
                 "required": ["status"]}
