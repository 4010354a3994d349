"""Placement documents, shaped per microversion."""

from __future__ import annotations

from onestack.core.microversion import Version

P = "/placement"


def provider(rp, v: Version) -> dict:
    base = f"{P}/resource_providers/{rp.uuid}"
    links = [{"rel": "self", "href": base}, {"rel": "inventories", "href": f"{base}/inventories"},
             {"rel": "usages", "href": f"{base}/usages"}]
    if v.matches("1.1"):
        links.append({"rel": "aggregates", "href": f"{base}/aggregates"})
    if v.matches("1.6"):
        links.append({"rel": "traits", "href": f"{base}/traits"})
    if v.matches("1.11"):
        links.append({"rel": "allocations", "href": f"{base}/allocations"})
    body = {"uuid": rp.uuid, "name": rp.name, "generation": rp.generation, "links": links}
    if v.matches("1.14"):
        body["parent_provider_uuid"] = rp.parent_provider_uuid
        body["root_provider_uuid"] = rp.root_provider_uuid
    return body


def inventory(inv) -> dict:
    return {"total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit, "max_unit": inv.max_unit,
            "step_size": inv.step_size, "allocation_ratio": inv.allocation_ratio}


def inventories(rows, generation: int) -> dict:
    return {"inventories": {i.resource_class: inventory(i) for i in rows}, "resource_provider_generation": generation}


def resource_class(name: str) -> dict:
    return {"name": name, "links": [{"rel": "self", "href": f"{P}/resource_classes/{name}"}]}


def allocation_request(summary_uuid: str, resources: dict, v: Version) -> dict:
    if not v.matches("1.12"):
        return {"allocations": [{"resource_provider": {"uuid": summary_uuid}, "resources": resources}]}
    body: dict = {"allocations": {summary_uuid: {"resources": resources}}}
    if v.matches("1.34"):
        body["mappings"] = {"": [summary_uuid]}
    return body


def provider_summary(summary, requested: dict, v: Version) -> dict:
    resources = summary.resources if v.matches("1.27") else {
        rc: value for rc, value in summary.resources.items() if rc in requested}
    body: dict = {"resources": resources}
    if v.matches("1.17"):
        body["traits"] = list(summary.traits)
    if v.matches("1.29"):
        body["parent_provider_uuid"] = summary.parent_provider_uuid
        body["root_provider_uuid"] = summary.root_provider_uuid
    return body
