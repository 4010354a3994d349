"""Helpers shared by identity handlers: query filters and collection rendering."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, json_response
from onestack.core.validation import validate

from ..views.common import collection

TRUE = ("true", "1", "yes", "on", "")
FALSE = ("false", "0", "no", "off")


def parse_bool(name: str, value: str) -> bool:
    low = value.lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise BadRequest(f"Invalid value {value!r} for query parameter {name!r}: expected true or false.")


def query_filters(req: ApiRequest, names: Iterable[str], bools: Iterable[str] = (),
                  lists: Iterable[str] = ()) -> dict:
    filters: dict = {}
    for name in names:
        if name in req.query:
            filters[name] = req.query[name]
    for name in bools:
        if name in req.query:
            filters[name] = parse_bool(name, req.query[name])
    for name in lists:
        if name in req.query:
            filters[name] = [v for part in req.query.getlist(name) for v in part.split(",") if v]
    return filters


def domain_list_target(req: ApiRequest, filters: dict) -> dict:
    """As keystone: a domain-scoped token lists its own domain's users, groups or projects -- the
    policy target is that domain and the list is filtered to it (another ``domain_id`` asked for then
    matches nothing).  Mutates ``filters``; returns the policy target."""
    scope = req.ctx.domain_id
    if not scope:
        return {"target.domain_id": filters.get("domain_id")}
    if filters.get("domain_id", scope) != scope:
        filters["domain_id"] = None  # matches no row
    else:
        filters["domain_id"] = scope
    return {"target.domain_id": scope}


def flag(req: ApiRequest, name: str) -> bool:
    """Keystone's presence flags (``?effective``, ``?include_names=true``)."""
    if name not in req.query:
        return False
    return parse_bool(name, req.query[name])


def list_response(req: ApiRequest, key: str, rows: list, render: Callable) -> object:
    return json_response(collection(key, [render(r, req.base_url) for r in rows], req.url))


def body_of(req: ApiRequest, schema: dict, key: str | None = None) -> dict:
    body = validate(schema, req.json())
    return body[key] if key else body
