"""/v2/info documents."""

from __future__ import annotations


def import_info(methods: list[str]) -> dict:
    return {"import-methods": {"description": "Import methods available.", "type": "array", "value": methods}}


def stores(items: list[dict]) -> dict:
    return {"stores": items}


def usage(items: dict[str, tuple[int | None, int]]) -> dict:
    return {"usage": {name: {"limit": limit, "usage": used} for name, (limit, used) in items.items()}}
