"""Tokens and the /v3/auth/* resources."""

from __future__ import annotations

from onestack.core.errors import Forbidden, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..backends.fernet import InvalidTokenError
from ..schemas.auth import AUTH
from ..service import roles as roles_svc
from ..views.common import collection
from ..views.domains import domain as domain_view
from ..views.projects import project as project_view
from .common import body_of, flag


def create_token(req: ApiRequest):
    auth = body_of(req, AUTH, "auth")
    token, info = req.deps.tokens.issue(auth)
    body = req.deps.tokens.dump(info, not flag(req, "nocatalog"))
    return json_response(body, 201, {"X-Subject-Token": token})


def _subject(req: ApiRequest, rule: str):
    subject = req.headers.get("x-subject-token")
    if not subject:
        raise NotFound("Could not find token: the X-Subject-Token header is missing.")
    try:
        info = req.deps.tokens.validate(subject, allow_expired=flag(req, "allow_expired"))
    except InvalidTokenError:
        # As keystone: the subject token is resolved before the policy check (its owner is part of the
        # target), so an invalid, expired or revoked token is a 404 for any authenticated caller.
        raise NotFound("Could not find token: the token is invalid, expired or revoked.") from None
    req.enforce(rule, {"target.token.user_id": info.user["id"]})
    return subject, info


def validate_token(req: ApiRequest):
    rule = "identity:check_token" if req.method == "HEAD" else "identity:validate_token"
    subject, info = _subject(req, rule)
    body = req.deps.tokens.render(subject, info, not flag(req, "nocatalog"))
    return json_response(body, 200, {"X-Subject-Token": subject})


def validate_token_inline(req: ApiRequest):
    """The hot path of every other service's token check, served from memory on the event loop:
    a subject token validated before (revocations and identity changes drop it from the cache).
    Returns None (the thread-pool handler takes over) whenever that would need I/O."""
    subject = req.headers.get("x-subject-token")
    if not subject or "allow_expired" in req.query:
        return None
    tokens = req.deps.tokens
    entry = tokens.cached(subject)
    with_catalog = not flag(req, "nocatalog")
    if entry is None or (with_catalog and tokens.cached_catalog() is None):
        return None
    rule = "identity:check_token" if req.method == "HEAD" else "identity:validate_token"
    req.enforce(rule, {"target.token.user_id": entry.info.user["id"]})
    body = tokens.render(subject, entry.info, with_catalog)
    return json_response(body, 200, {"X-Subject-Token": subject})


def revoke_token(req: ApiRequest):
    subject, _info = _subject(req, "identity:revoke_token")
    req.deps.tokens.revoke_token(subject)
    return empty_response()


def get_auth_catalog(req: ApiRequest):
    req.enforce("identity:get_auth_catalog")
    if not (req.ctx.project_id or req.ctx.domain_id or req.ctx.system_scope):
        raise Forbidden("A catalog can only be obtained with a scoped token.")
    return json_response({"catalog": req.deps.tokens.catalog(),
                          "links": {"self": req.url, "previous": None, "next": None}})


def get_auth_projects(req: ApiRequest):
    req.enforce("identity:get_auth_projects")
    with req.deps.uow() as uow:
        projects = [p for p in roles_svc.user_projects(uow, req.ctx.user_id) if p.enabled]
        items = [project_view(p, req.base_url) for p in projects]
    return json_response(collection("projects", items, req.url))


def get_auth_domains(req: ApiRequest):
    req.enforce("identity:get_auth_domains")
    with req.deps.uow() as uow:
        items = [domain_view(d, req.base_url) for d in roles_svc.user_domains(uow, req.ctx.user_id) if d.enabled]
    return json_response(collection("domains", items, req.url))


def get_auth_system(req: ApiRequest):
    req.enforce("identity:get_auth_system")
    with req.deps.uow() as uow:
        has_system = bool(roles_svc.effective_role_ids(uow, req.ctx.user_id, system=True))
    return json_response({"system": [{"all": True}] if has_system else [],
                          "links": {"self": req.url, "previous": None, "next": None}})
