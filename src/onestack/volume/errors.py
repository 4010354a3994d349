"""Block storage errors render in Cinder's format: ``{"itemNotFound": {"code": 404, "message": ...}}``."""

from onestack.core.errors import BadRequest, RequestEntityTooLarge, nova_format


class InvalidVolume(BadRequest):
    type = "InvalidVolume"


class OverQuota(RequestEntityTooLarge):
    type = "OverQuota"


ERROR_FORMAT = nova_format
