"""Networking errors render in Neutron's format: ``{"NeutronError": {"type", "message", "detail"}}``.

``type`` is the upstream exception class name (``NetworkNotFound``, ``IpAddressGenerationFailure``...);
the generic core errors are renamed to the names Neutron's WSGI layer uses for them.
"""

from __future__ import annotations

from onestack.core.errors import ApiError, BadRequest, Conflict, NotFound, PreconditionFailed

_GENERIC = {
    "BadRequest": "HTTPBadRequest",
    "NotFound": "HTTPNotFound",
    "Forbidden": "PolicyNotAuthorized",
    "MethodNotAllowed": "HTTPMethodNotAllowed",
    "Conflict": "Conflict",
    "Unauthorized": "HTTPUnauthorized",
    "UnsupportedMediaType": "HTTPUnsupportedMediaType",
    "InternalError": "HTTPInternalServerError",
}


def neutron_format(err: ApiError, request_id: str) -> dict:
    return {"NeutronError": {"type": _GENERIC.get(err.type, err.type), "message": err.message, "detail": ""}}


ERROR_FORMAT = neutron_format


def not_found(kind: str, id_: str) -> NotFound:
    """``NetworkNotFound`` and friends, worded as upstream."""
    words = {"Network": "Network", "Subnet": "Subnet", "Port": "Port", "Router": "Router",
             "FloatingIP": "Floating IP", "SecurityGroup": "Security group",
             "SecurityGroupRule": "Security group rule", "SubnetPool": "Subnetpool"}
    return NotFound(f"{words.get(kind, kind)} {id_} could not be found.", type=f"{kind}NotFound")


def invalid(message: str) -> BadRequest:
    return BadRequest(f"Invalid input for operation: {message}.", type="InvalidInput")


def in_use(message: str, type: str = "InUse") -> Conflict:
    return Conflict(message, type=type)


def over_quota(resource: str) -> Conflict:
    return Conflict(f"Quota exceeded for resources: ['{resource}'].", type="OverQuota")


def revision_mismatch(expected: int, actual: int) -> PreconditionFailed:
    return PreconditionFailed(f"Constrained to {expected}, but current revision is {actual}",
                              type="RevisionNumberConstraintFailed")
