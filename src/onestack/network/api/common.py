"""What every networking handler shares: the body envelope, filters, ``fields=``, sorting, pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, json_response
from onestack.core.pagination import parse_limit
from onestack.core.validation import validate

from ..service.common import Caller

RESERVED = {"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir", "tags", "tags-any", "not-tags",
            "not-tags-any", "verbose"}


def caller(req: ApiRequest) -> Caller:
    return Caller.of(req.ctx)


def body_of(req: ApiRequest, schema: dict, key: str) -> dict:
    body = req.json()
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Resource body required: '{key}' not found in request body", type="HTTPBadRequest")
    validate(schema, body)
    return body[key]


def bodies(req: ApiRequest, schema: dict, key: str, plural: str) -> tuple[list[dict], bool]:
    """One resource (``{"port": {...}}``) or a bulk request (``{"ports": [{...}, ...]}``)."""
    body = req.json()
    if isinstance(body, dict) and plural in body and key not in body:
        items = body[plural]
        if not isinstance(items, list) or not items:
            raise BadRequest(f"Resources required: '{plural}' must be a non-empty list", type="HTTPBadRequest")
        for item in items:
            validate(schema, {key: item})
        return items, True
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Resource body required: '{key}' not found in request body", type="HTTPBadRequest")
    validate(schema, body)
    return [body[key]], False


def created(req: ApiRequest, key: str, plural: str, items: list[dict], bulk: bool):
    if bulk:
        return json_response({plural: items}, 201)
    return single(req, key, items[0], 201)


def if_match(req: ApiRequest) -> str | None:
    return req.headers.get("if-match")


def attribute_policies(req: ApiRequest, action: str, body: dict, attrs: Iterable[str], target: dict) -> None:
    """``create_network:shared``-style rules for attributes present in the body."""
    for attr in attrs:
        if attr in body and body[attr] not in (None, False, "", [], {}):
            req.enforce(f"{action}:{attr}", target)


def _as_bool(value: str) -> bool | None:
    low = value.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    return None


def _matches(actual: Any, wanted: list[str], key: str) -> bool:
    if key == "fixed_ips":
        # fixed_ips=ip_address=X / subnet_id=Y / ip_address_substr=Z
        for spec in wanted:
            name, _, value = spec.partition("=")
            for ip in actual or []:
                if name == "ip_address_substr" and value in ip["ip_address"]:
                    return True
                if ip.get(name) == value:
                    return True
        return False
    if isinstance(actual, bool):
        return any(_as_bool(w) == actual for w in wanted)
    if actual is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(actual, list):
        return any(str(w) in [str(a) for a in actual] for w in wanted)
    return str(actual) in wanted


def _tags_match(tags: list[str], query) -> bool:
    def values(name):
        return [t for v in query.getlist(name) for t in v.split(",") if t]

    all_of, any_of, not_all, not_any = values("tags"), values("tags-any"), values("not-tags"), values("not-tags-any")
    s = set(tags or [])
    if all_of and not set(all_of) <= s:
        return False
    if any_of and not s & set(any_of):
        return False
    if not_all and set(not_all) <= s:
        return False
    return not (not_any and s & set(not_any))


def _sort_key(value):
    if value is None:
        return (0, "")
    if isinstance(value, bool | int):
        return (1, value)
    return (2, str(value))


def collection(req: ApiRequest, name: str, items: list[dict], extra_filters: Iterable[str] = (),
               paged: bool | None = None) -> Any:
    """Filter, sort, paginate and project ``items`` (already visible to the caller) as a list response.

    ``paged`` (whether more follow) says the service already returned one page of the default order.
    """
    query = req.query
    allowed = set(items[0]) if items else None
    filters: dict[str, list[str]] = {}
    for key in query:
        if key in RESERVED:
            continue
        if allowed is not None and key not in allowed and key not in extra_filters:
            raise BadRequest(f"[{key}] is invalid attribute for filtering", type="HTTPBadRequest")
        filters[key] = query.getlist(key)
    out = [item for item in items if all(_matches(item.get(k), v, k) for k, v in filters.items() if k in item)]
    if any(t in query for t in ("tags", "tags-any", "not-tags", "not-tags-any")):
        out = [item for item in out if _tags_match(item.get("tags", []), query)]
    sort_keys, sort_dirs = query.getlist("sort_key"), query.getlist("sort_dir")
    if sort_dirs and len(sort_dirs) != len(sort_keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same", type="HTTPBadRequest")
    for i in reversed(range(len(sort_keys))):
        key = sort_keys[i]
        if allowed is not None and key not in allowed:
            raise BadRequest(f"{key} is an invalid attribute for sort_keys", type="HTTPBadRequest")
        direction = sort_dirs[i] if sort_dirs else "asc"
        if direction not in ("asc", "desc"):
            raise BadRequest(f"{direction} is invalid value for sort_dirs, valid value is 'asc' and 'desc'",
                             type="HTTPBadRequest")
        out.sort(key=lambda item, k=key: _sort_key(item.get(k)), reverse=direction == "desc")
    limit = parse_limit(query.get("limit"), max_limit=100000)
    if limit == 0:
        limit = None
    marker = query.get("marker")
    reverse = (query.get("page_reverse") or "").lower() == "true"
    links = []
    if paged is not None:
        params = [(k, v) for k, v in query.multi_items() if k not in ("marker", "page_reverse")]
        if out and paged:
            links.append({"rel": "next", "href": f"{req.url}?{urlencode(params + [('marker', out[-1]['id'])])}"})
        if out and marker:
            back = params + [("marker", out[0]["id"]), ("page_reverse", "True")]
            links.append({"rel": "previous", "href": f"{req.url}?{urlencode(back)}"})
    elif marker or limit:
        ids = [item["id"] for item in out]
        if marker:
            if marker not in ids:
                raise BadRequest(f"Marker {marker} could not be found", type="HTTPBadRequest")
            pos = ids.index(marker)
            page = out[:pos] if reverse else out[pos + 1:]
        else:
            page = out
        more = limit is not None and len(page) > limit
        if limit is not None:
            page = page[-limit:] if reverse else page[:limit]
        params = [(k, v) for k, v in query.multi_items() if k not in ("marker", "page_reverse")]
        if page and more:
            edge = page[0]["id"] if reverse else page[-1]["id"]
            rev = [("page_reverse", "True")] if reverse else []
            links.append({"rel": "previous" if reverse else "next",
                          "href": f"{req.url}?{urlencode(params + [('marker', edge)] + rev)}"})
        if page and marker:
            edge = page[-1]["id"] if reverse else page[0]["id"]
            rev = [] if reverse else [("page_reverse", "True")]
            links.append({"rel": "next" if reverse else "previous",
                          "href": f"{req.url}?{urlencode(params + [('marker', edge)] + rev)}"})
        out = page
    fields = fields_of(req)
    if fields:
        out = [project(item, fields) for item in out]
    body: dict = {name: out}
    if links:
        body[f"{name}_links"] = links
    return json_response(body)


def fields_of(req: ApiRequest) -> list[str]:
    return [f for v in req.query.getlist("fields") for f in v.split(",") if f]


def project(item: dict, fields: list[str]) -> dict:
    return {k: v for k, v in item.items() if k in fields}


def single(req: ApiRequest, key: str, item: dict, status: int = 200):
    fields = fields_of(req)
    return json_response({key: project(item, fields) if fields else item}, status)


def make_view(fn: Callable, *args) -> Callable:
    return lambda row: fn(row, *args)
