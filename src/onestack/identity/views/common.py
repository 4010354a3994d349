"""Pieces every identity view shares: links and collection envelopes."""

from __future__ import annotations

V3 = "/identity/v3"


def self_link(base: str, path: str) -> dict:
    return {"self": f"{base}{V3}/{path}"}


def collection(key: str, items: list, url: str) -> dict:
    return {key: items, "links": {"self": url, "previous": None, "next": None}}
