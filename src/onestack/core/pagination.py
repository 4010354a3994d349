"""``limit``/``marker`` pagination with ``next`` links, shared by every list API."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from .errors import BadRequest


def parse_limit(value: str | None, max_limit: int = 1000) -> int | None:
    if value is None:
        return None
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(f"Invalid limit {value!r}: expected a non-negative integer") from None
    if limit < 0:
        raise BadRequest(f"Invalid limit {value!r}: expected a non-negative integer")
    return min(limit, max_limit)


def page(items: Sequence, limit: int | None, marker: str | None, key=lambda item: item.id):
    """Return (items after marker up to limit, has_more).  Unknown marker -> 400 (upstream: 400/404)."""
    start = 0
    if marker:
        ids = [key(item) for item in items]
        try:
            start = ids.index(marker) + 1
        except ValueError:
            raise BadRequest(f"Marker {marker} could not be found.") from None
    chosen = list(items[start:])
    if limit is not None and len(chosen) > limit:
        return chosen[:limit], True
    return chosen, False


def next_link(base_url: str, query: dict, marker: str) -> str:
    params = {k: v for k, v in query.items() if k != "marker"}
    params["marker"] = marker
    return f"{base_url}?{urlencode(params, doseq=True)}"
