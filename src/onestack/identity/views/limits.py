from __future__ import annotations

from ..model import Limit, RegisteredLimit
from .common import self_link


def registered_limit(r: RegisteredLimit, base: str) -> dict:
    return {"id": r.id, "service_id": r.service_id, "region_id": r.region_id, "resource_name": r.resource_name,
            "default_limit": r.default_limit, "description": r.description,
            "links": self_link(base, f"registered_limits/{r.id}")}


def limit(r: Limit, base: str) -> dict:
    return {"id": r.id, "project_id": r.project_id, "domain_id": r.domain_id, "service_id": r.service_id,
            "region_id": r.region_id, "resource_name": r.resource_name, "resource_limit": r.resource_limit,
            "description": r.description, "links": self_link(base, f"limits/{r.id}")}


LIMIT_MODEL = {"name": "flat", "description": "Limit enforcement and validation does not take project "
               "hierarchy into consideration."}
