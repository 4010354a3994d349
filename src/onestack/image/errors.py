"""Image errors render as glance's (webob's) JSON error document: ``{"code", "title", "message"}``."""

from onestack.core.errors import ApiError, glance_format

ERROR_FORMAT = glance_format


class RangeNotSatisfiable(ApiError):
    status = 416
    type = "RequestRangeNotSatisfiable"
