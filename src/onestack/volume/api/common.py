"""Helpers shared by block storage handlers."""

from __future__ import annotations

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest
from onestack.core.microversion import Version
from onestack.core.pagination import parse_limit
from onestack.core.validation import validate

from ..service.common import Caller, parse_bool, parse_sort

V3_0 = Version(3, 0)


def caller(req: ApiRequest) -> Caller:
    return Caller(req.ctx, req.allowed("context_is_admin"))


def version(req: ApiRequest) -> Version:
    return req.version or V3_0


def base(req: ApiRequest) -> str:
    """The versioned URL links are built on (with the project id when the request had one)."""
    project = req.params.get("project_id")
    return f"{req.base_url}/volume/v3" + (f"/{project}" if project else "")


def body_of(req: ApiRequest, schema: dict, key: str | None = None):
    body = validate(schema, req.json())
    return body[key] if key else body


def target(req: ApiRequest, project_id: str | None = None) -> dict:
    return {"project_id": project_id or req.ctx.project_id}


def all_tenants(req: ApiRequest) -> bool:
    value = req.query.get("all_tenants")
    if value is None:
        return False
    return value == "" or parse_bool(value, "all_tenants")


def list_params(req: ApiRequest, sort_keys, default_sort: str = "created_at"):
    limit = parse_limit(req.query.get("limit"))
    offset = None
    if "offset" in req.query:
        try:
            offset = int(req.query["offset"])
            if offset < 0:
                raise ValueError
        except ValueError:
            raise BadRequest(f"Invalid input received: offset {req.query['offset']!r} must be a non-negative "
                             "integer.") from None
    keys = parse_sort(req.query.get("sort"), req.query.get("sort_key"), req.query.get("sort_dir"), sort_keys,
                      default_sort)
    with_count = version(req).matches("3.45") and parse_bool(req.query.get("with_count", "false"), "with_count")
    return limit, req.query.get("marker"), offset, keys, with_count


def parse_json_filter(value: str, name: str) -> dict:
    import ast
    import json

    try:
        parsed = json.loads(value)
    except ValueError:
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise BadRequest(f"Invalid input received: Invalid filter value for {name}: {value}") from None
    if not isinstance(parsed, dict):
        raise BadRequest(f"Invalid input received: {name} filter must be a dictionary.")
    return parsed
