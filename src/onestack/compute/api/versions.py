from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..views.versions import version, version_v20


def list_versions(req: ApiRequest):
    return json_response({"versions": [version_v20(req.base_url), version(req.base_url)]})


def show_version(req: ApiRequest):
    return json_response({"version": version(req.base_url)})
