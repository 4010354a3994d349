"""Shared view helpers: timestamps, links and collections with ``<key>_links`` next links."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def links(base: str, kind: str, id_: str) -> list[dict]:
    """``base`` is the versioned service URL (``http://host/volume/v3/<project>``)."""
    root = base.split("/v3", 1)[0]
    return [{"href": f"{base}/{kind}/{id_}", "rel": "self"}, {"href": f"{root}/{kind}/{id_}", "rel": "bookmark"}]


def collection(key: str, items: list[dict], has_more: bool, url: str, query: dict, last_id: str | None,
               count: int | None = None) -> dict:
    body: dict = {key: items}
    if has_more and last_id:
        params = {k: v for k, v in query.items() if k != "marker"}
        params["marker"] = last_id
        body[f"{key}_links"] = [{"href": f"{url}?{urlencode(params)}", "rel": "next"}]
    if count is not None:
        body["count"] = count
    return body
