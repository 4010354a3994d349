"""The error hierarchy and one renderer per upstream error format.

Service code raises these; the HTTP layer renders them in the format of the service that owns the
route (``ServiceSpec.error_format``).  ``type`` is the upstream exception name where a format shows
it (Neutron's ``NeutronError.type``, Designate's ``type``).
"""

from __future__ import annotations

from http import HTTPStatus


class ApiError(Exception):
    status = 500
    type = "InternalError"

    def __init__(self, message: str = "", *, type: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message or HTTPStatus(self.status).description
        if type:
            self.type = type
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400
    type = "BadRequest"


class Unauthorized(ApiError):
    status = 401
    type = "Unauthorized"

    def __init__(self, message: str = "The request you have made requires authentication.", **kw):
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status = 403
    type = "Forbidden"

    def __init__(self, message: str = "You are not authorized to perform the requested action.", **kw):
        super().__init__(message, **kw)


class NotFound(ApiError):
    status = 404
    type = "NotFound"


class MethodNotAllowed(ApiError):
    status = 405
    type = "MethodNotAllowed"


class NotAcceptable(ApiError):
    status = 406
    type = "NotAcceptable"


class Conflict(ApiError):
    status = 409
    type = "Conflict"


class Gone(ApiError):
    status = 410
    type = "Gone"


class PreconditionFailed(ApiError):
    status = 412
    type = "PreconditionFailed"


class RequestEntityTooLarge(ApiError):
    status = 413
    type = "OverLimit"


class UnsupportedMediaType(ApiError):
    status = 415
    type = "UnsupportedMediaType"


class InternalError(ApiError):
    status = 500
    type = "InternalError"


class NotImplementedYet(ApiError):
    status = 501
    type = "NotImplemented"


class ServiceUnavailable(ApiError):
    status = 503
    type = "ServiceUnavailable"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def keystone_format(err: ApiError, request_id: str) -> dict:
    return {"error": {"code": err.status, "title": _title(err.status), "message": err.message}}


# Nova, Cinder and Trove wrap errors in a key named after the fault class.
_NOVA_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def nova_format(err: ApiError, request_id: str) -> dict:
    key = _NOVA_KEYS.get(err.status, "computeFault")
    return {key: {"code": err.status, "message": err.message}}


def neutron_format(err: ApiError, request_id: str) -> dict:
    return {"NeutronError": {"type": err.type, "message": err.message, "detail": ""}}


def designate_format(err: ApiError, request_id: str) -> dict:
    return {"code": err.status, "type": err.type, "message": err.message, "request_id": request_id}


def glance_format(err: ApiError, request_id: str) -> dict:
    # Glance answers with webob's plain error document; clients read only status and message.
    return {"code": err.status, "title": _title(err.status), "message": err.message}
