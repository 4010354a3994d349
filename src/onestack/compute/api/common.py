"""Helpers shared by compute handlers: bodies, query parsing, pagination."""

from __future__ import annotations

import datetime as dt

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest
from onestack.core.pagination import page, parse_limit
from onestack.core.validation import validate

TRUE = ("true", "1", "yes", "on", "t", "y")
FALSE = ("false", "0", "no", "off", "f", "n")
MAX_LIMIT = 1000  # nova [api] max_limit


def body_of(req: ApiRequest, schema: dict, key: str | None = None) -> dict:
    body = validate(schema, req.json())
    return body[key] if key else body


def by_version(req: ApiRequest, *choices: tuple[str, dict]) -> dict:
    """The schema of the highest ``(min_version, schema)`` the request's microversion reaches."""
    chosen = choices[0][1]
    for low, schema in choices:
        if req.version.matches(low):
            chosen = schema
    return chosen


def parse_bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise BadRequest(f"Invalid value '{value}' for '{name}'. Expected a boolean value.")


def parse_int(name: str, value: str | None, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                         f"'{value}' is not an integer") from None
    if minimum is not None and number < minimum:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                         f"{value} is less than the minimum of {minimum}")
    return number


def paginate(req: ApiRequest, items: list, key=lambda item: item.id, not_found=None) -> tuple[list, int | None]:
    """Apply ``limit``/``marker``; an unknown marker is 400 as Nova's ``MarkerNotFound``."""
    limit = parse_limit(req.query.get("limit"), MAX_LIMIT)
    if limit is None and len(items) > MAX_LIMIT:
        limit = MAX_LIMIT
    marker = req.query.get("marker")
    try:
        chosen, _more = page(items, limit, marker, key)
    except BadRequest:
        raise (not_found or BadRequest)(f"marker [{marker}] not found") from None
    return chosen, limit


def target(project_id: str | None, user_id: str | None = None) -> dict:
    return {"project_id": project_id, "user_id": user_id}


def parse_time(name: str, value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid filter field: {name}. Value {value!r} is not an ISO 8601 time.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed
