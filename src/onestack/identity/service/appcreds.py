"""Application credentials: a user delegating a subset of their roles on one project to a secret."""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass, field

from sqlalchemy import select

from onestack.core.context import RequestContext
from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, Forbidden, NotFound
from onestack.core.uow import UnitOfWork

from ..model import ApplicationCredential
from .common import flush_unique, get
from .revocations import revoke
from .users import find_user, hash_secret


@dataclass(frozen=True)
class CreateApplicationCredential:
    name: str
    description: str | None = None
    secret: str | None = None
    expires_at: dt.datetime | None = None
    roles: tuple[dict, ...] = ()
    unrestricted: bool = False
    access_rules: tuple[dict, ...] = field(default_factory=tuple)


def generate_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(64)).decode().rstrip("=")


def create_application_credential(uow: UnitOfWork, ctx: RequestContext, user_id: str,
                                  cmd: CreateApplicationCredential, rounds: int) -> tuple[ApplicationCredential, str]:
    if ctx.user_id != user_id:
        raise Forbidden("Application credentials can only be created for the user of the token.")
    if not ctx.project_id:
        raise Forbidden("Application credentials require a project-scoped token.")
    if ctx.application_credential_id:
        cred = uow.session.get(ApplicationCredential, ctx.application_credential_id)
        if cred is None or not cred.unrestricted:
            raise Forbidden("A restricted application credential cannot create application credentials.")
    token_roles = dict(zip(ctx.role_ids, ctx.roles, strict=True))
    chosen: list[dict] = []
    for ref in cmd.roles or [{"id": i} for i in ctx.role_ids]:
        match = [(i, n) for i, n in token_roles.items() if ref.get("id") == i or ref.get("name") == n]
        if not match:
            raise NotFound(f"Could not find role assignment with role: {ref.get('id') or ref.get('name')}, "
                           f"user: {user_id}, project: {ctx.project_id}.")
        chosen.append({"id": match[0][0], "name": match[0][1], "domain_id": None})
    if cmd.expires_at and cmd.expires_at <= utcnow():
        raise BadRequest("Invalid input for field 'expires_at': the expiration time is in the past.")
    secret = cmd.secret or generate_secret()
    cred = ApplicationCredential(
        name=cmd.name, user_id=user_id, project_id=ctx.project_id, secret_hash=hash_secret(secret, rounds),
        description=cmd.description, expires_at=cmd.expires_at, unrestricted=cmd.unrestricted,
        roles=list({r["id"]: r for r in chosen}.values()), access_rules=list(cmd.access_rules),
    )
    uow.session.add(cred)
    flush_unique(uow, f"Duplicate entry: an application credential named {cmd.name} already exists.")
    return cred, secret


def list_application_credentials(uow: UnitOfWork, user_id: str, name: str | None = None):
    query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if name is not None:
        query = query.where(ApplicationCredential.name == name)
    return list(uow.session.scalars(query.order_by(ApplicationCredential.name)))


def get_application_credential(uow: UnitOfWork, user_id: str, cred_id: str) -> ApplicationCredential:
    cred = get(uow, ApplicationCredential, cred_id, "application credential")
    if cred.user_id != user_id:
        raise NotFound(f"Could not find application credential: {cred_id}.")
    return cred


def delete_application_credential(uow: UnitOfWork, user_id: str, cred_id: str) -> None:
    cred = get_application_credential(uow, user_id, cred_id)
    uow.session.delete(cred)
    revoke(uow, application_credential_id=cred.id)


def find_for_auth(uow: UnitOfWork, ref: dict) -> ApplicationCredential:
    if ref.get("id"):
        return get(uow, ApplicationCredential, ref["id"], "application credential")
    if ref.get("name") and isinstance(ref.get("user"), dict):
        user = find_user(uow, ref["user"])
        creds = list_application_credentials(uow, user.id, ref["name"])
        if creds:
            return creds[0]
    raise NotFound("Could not find application credential.")
