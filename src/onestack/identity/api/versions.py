"""Version discovery (public)."""

from __future__ import annotations

from onestack.core.http import ApiRequest, json_response

from ..views import versions as views


def list_versions(req: ApiRequest):
    # Keystone answers the unversioned endpoint with 300 Multiple Choices.
    return json_response(views.versions(req.base_url), 300)


def show_version(req: ApiRequest):
    return json_response({"version": views.version(req.base_url)})
