"""Application credentials of a user."""

from __future__ import annotations

import datetime as dt

from onestack.core.errors import BadRequest
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.appcreds import CREATE_APPLICATION_CREDENTIAL
from ..service import appcreds as svc
from ..views.appcreds import application_credential as view
from .common import body_of, list_response


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for field 'expires_at': {value!r} is not an ISO 8601 time.") from None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def list_application_credentials(req: ApiRequest):
    user_id = req.params["user_id"]
    req.enforce("identity:list_application_credentials", {"target.user.id": user_id})
    with req.deps.uow() as uow:
        rows = svc.list_application_credentials(uow, user_id, req.query.get("name"))
        return list_response(req, "application_credentials", rows, view)


def show_application_credential(req: ApiRequest):
    user_id = req.params["user_id"]
    req.enforce("identity:get_application_credential", {"target.user.id": user_id})
    with req.deps.uow() as uow:
        cred = svc.get_application_credential(uow, user_id, req.params["application_credential_id"])
        return json_response({"application_credential": view(cred, req.base_url)})


def create_application_credential(req: ApiRequest):
    user_id = req.params["user_id"]
    req.enforce("identity:create_application_credential", {"target.user.id": user_id})
    body = body_of(req, CREATE_APPLICATION_CREDENTIAL, "application_credential")
    cmd = svc.CreateApplicationCredential(
        name=body["name"], description=body.get("description"), secret=body.get("secret"),
        expires_at=_parse_time(body.get("expires_at")), roles=tuple(body.get("roles") or ()),
        unrestricted=bool(body.get("unrestricted")), access_rules=tuple(body.get("access_rules") or ()),
    )
    with req.deps.uow(write=True) as uow:
        cred, secret = svc.create_application_credential(uow, req.ctx, user_id, cmd, req.deps.password_policy.rounds)
        out = view(cred, req.base_url, secret)
    return json_response({"application_credential": out}, 201)


def delete_application_credential(req: ApiRequest):
    user_id = req.params["user_id"]
    req.enforce("identity:delete_application_credential", {"target.user.id": user_id})
    with req.deps.uow(write=True) as uow:
        svc.delete_application_credential(uow, user_id, req.params["application_credential_id"])
    return empty_response()
