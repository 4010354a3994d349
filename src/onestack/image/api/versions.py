"""Version discovery (public): 300 Multiple Choices at the root, 200 at /versions."""

from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..views import versions as views


def list_versions(req: ApiRequest):
    return json_response(views.versions(req.base_url), 300)


def show_versions(req: ApiRequest):
    return json_response(views.versions(req.base_url))
