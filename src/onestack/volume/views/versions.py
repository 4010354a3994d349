"""Version discovery documents (``GET /volume/`` and ``GET /volume/v3/``)."""

from __future__ import annotations

MIN_VERSION = "3.0"
MAX_VERSION = "3.71"
UPDATED = "2023-08-31T00:00:00Z"


def v3(base_url: str) -> dict:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": UPDATED,
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": f"{base_url}/volume/v3/"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }
