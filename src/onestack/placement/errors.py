"""Placement errors render as upstream: ``{"errors": [{"status", "title", "detail", "request_id", "code"}]}``."""

from http import HTTPStatus

from onestack.core.errors import ApiError

CONCURRENT_UPDATE = "placement.concurrent_update"
INVENTORY_INUSE = "placement.inventory.inuse"
DUPLICATE_NAME = "placement.duplicate_name"
UNDEFINED = "placement.undefined_code"


def placement_format(err: ApiError, request_id: str) -> dict:
    code = err.type if err.type.startswith("placement.") else UNDEFINED
    try:
        title = HTTPStatus(err.status).phrase
    except ValueError:
        title = "Error"
    return {"errors": [{"status": err.status, "title": title, "detail": err.message, "request_id": request_id,
                        "code": code}]}


ERROR_FORMAT = placement_format
