from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..views.versions import version


def list_versions(req: ApiRequest):
    return json_response({"versions": [version(req.base_url)]})


def show_version(req: ApiRequest):
    return json_response({"version": version(req.base_url)})
