"""Version discovery documents, as keystone serves them."""

from __future__ import annotations

VERSION_ID = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def version(base: str) -> dict:
    return {"id": VERSION_ID, "status": "stable", "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}], "media-types": MEDIA_TYPES}


def versions(base: str) -> dict:
    return {"versions": {"values": [version(base)]}}
