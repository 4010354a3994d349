from __future__ import annotations

from ..model import Endpoint, Region, Service
from .common import self_link


def region(r: Region, base: str) -> dict:
    return {"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": self_link(base, f"regions/{r.id}")}


def service(s: Service, base: str) -> dict:
    body = {"id": s.id, "type": s.type, "name": s.name, "enabled": s.enabled,
            "links": self_link(base, f"services/{s.id}")}
    if s.description is not None:
        body["description"] = s.description
    return body


def endpoint(e: Endpoint, base: str) -> dict:
    return {"id": e.id, "interface": e.interface, "service_id": e.service_id, "url": e.url,
            "region": e.region_id, "region_id": e.region_id, "enabled": e.enabled,
            "links": self_link(base, f"endpoints/{e.id}")}
