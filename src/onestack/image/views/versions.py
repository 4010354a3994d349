"""Version discovery as glance answers it with multiple stores and no image cache configured."""

from __future__ import annotations

CURRENT = "2.17"
SUPPORTED = ("2.15", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2",
             "2.1", "2.0")


def versions(base: str) -> dict:
    href = f"{base}/image/v2/"

    def one(version: str, status: str) -> dict:
        return {"id": f"v{version}", "status": status, "links": [{"rel": "self", "href": href}]}

    return {"versions": [one(CURRENT, "CURRENT"), *(one(v, "SUPPORTED") for v in SUPPORTED)]}
