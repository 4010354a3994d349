"""Pieces every compute view shares: links, timestamps, pagination links."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

V21 = "/compute/v2.1"


def links(base: str, collection: str, id_: str | int) -> list[dict]:
    return [{"rel": "self", "href": f"{base}{V21}/{collection}/{id_}"},
            {"rel": "bookmark", "href": f"{base}/compute/{collection}/{id_}"}]


def isotime(value: dt.datetime | None) -> str | None:
    """Nova's servers/actions format: 2013-04-19T20:51:17Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def isotime_us(value: dt.datetime | None) -> str | None:
    """Nova's format for rows shown with microseconds (key pairs, hypervisors, services)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def next_links(base: str, path: str, query: dict, items: list, limit: int | None, marker_of,
               rel_key: str) -> dict:
    """``{"<rel_key>": [{"rel": "next", "href": ...}]}`` when the page is full, as Nova does."""
    if not items or limit is None or len(items) < limit:
        return {}
    params = {k: v for k, v in query.items() if k != "marker"}
    params["limit"] = limit
    params["marker"] = marker_of(items[-1])
    return {rel_key: [{"rel": "next", "href": f"{base}{V21}/{path}?{urlencode(params, doseq=True)}"}]}
