from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

MIN_VERSION = "1.0"
MAX_VERSION = "1.39"


def list_versions(req: ApiRequest):
    return json_response({"versions": [{
        "id": "v1.0", "min_version": MIN_VERSION, "max_version": MAX_VERSION, "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}]}]})
