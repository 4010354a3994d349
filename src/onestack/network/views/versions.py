from __future__ import annotations

from ..extensions import EXTENSIONS


def versions(base_url: str) -> dict:
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"href": f"{base_url}/network/v2.0/", "rel": "self"}]}]}


def version(base_url: str) -> dict:
    collections = (("network", "networks"), ("subnet", "subnets"), ("subnetpool", "subnetpools"),
                   ("port", "ports"), ("router", "routers"), ("floatingip", "floatingips"),
                   ("security_group", "security-groups"), ("security_group_rule", "security-group-rules"),
                   ("quota", "quotas"), ("network_ip_availability", "network-ip-availabilities"))
    return {"resources": [{"name": name, "collection": c,
                           "links": [{"href": f"{base_url}/network/v2.0/{c}", "rel": "self"}]}
                          for name, c in collections]}


def extension(ext: dict) -> dict:
    return {"alias": ext["alias"], "name": ext["name"], "description": ext["description"],
            "updated": "2024-01-01T00:00:00-00:00", "links": []}


def extensions() -> list[dict]:
    return [extension(e) for e in EXTENSIONS]
