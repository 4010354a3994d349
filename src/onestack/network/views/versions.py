from __future__ import annotations

from ..extensions import EXTENSIONS


def versions(base_url: str) -> dict:
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"href": f"{base_url}/network/v2.0/", "rel": "self"}]}]}


def version(base_url: str) -> dict:
    collections = ("networks", "subnets", "subnetpools", "ports", "routers", "floatingips", "security-groups",
                   "security-group-rules", "quotas", "network-ip-availabilities", "extensions")
    return {"resources": [{"name": c[:-1].replace("-", "_") if c.endswith("s") else c, "collection": c,
                           "links": [{"href": f"{base_url}/network/v2.0/{c}", "rel": "self"}]}
                          for c in collections]}


def extension(ext: dict) -> dict:
    return {"alias": ext["alias"], "name": ext["name"], "description": ext["description"],
            "updated": "2024-01-01T00:00:00-00:00", "links": []}


def extensions() -> list[dict]:
    return [extension(e) for e in EXTENSIONS]
