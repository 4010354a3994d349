"""Compute errors render in Nova's format: ``{"itemNotFound": {"code": 404, "message": ...}}``."""

from onestack.core.errors import ApiError, nova_format


class OverLimit(ApiError):
    """Quota exceeded: Nova answers 403 ``forbidden`` (server create) or 413 ``overLimit``."""

    status = 403
    type = "OverQuota"


ERROR_FORMAT = nova_format
