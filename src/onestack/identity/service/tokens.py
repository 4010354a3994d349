"""Authentication and tokens: issue (password, token, application_credential), validate, revoke.

Validation is the hottest path of the whole cloud (every API request of every service does it), so
validated tokens are cached in memory.  The cache is dropped whenever identity data that could
change a token's meaning is committed (a ``identity.changed`` bus notice), which keeps revocation,
disabled users/projects and removed roles effective immediately.  Password hashing (bcrypt) never
runs inside a database transaction.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import update

from onestack.core.context import RequestContext
from onestack.core.errors import BadRequest, NotFound, Unauthorized
from onestack.core.uow import UnitOfWork, UnitOfWorkFactory

from ..backends.fernet import InvalidTokenError, KeyRepository, TokenPayload
from ..model import ApplicationCredential, Domain, Project, User
from . import appcreds, resources, roles, users
from .catalog import catalog as build_catalog
from .changes import Generation
from .revocations import RevocationList, TokenFacts, revoke


def _audit_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def _ms(when: dt.datetime) -> int:
    return int(when.replace(tzinfo=dt.UTC).timestamp() * 1000)


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(tzinfo=None)


def isotime(when: dt.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z" if when else None


def _isotime_ms(ms: int) -> str:
    """``isotime(_from_ms(ms))`` without building a datetime (twice per token issued)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}000Z"


@dataclass(frozen=True)
class TokenInfo:
    """A validated token: everything a response body or a request context needs."""

    payload: TokenPayload
    user: dict
    project: dict | None = None
    domain: dict | None = None
    system: bool = False
    roles: tuple[dict, ...] = ()
    app_cred: dict | None = None

    @functools.cached_property
    def expires_at(self) -> dt.datetime:
        return _from_ms(self.payload.expires_at_ms)

    @functools.cached_property
    def issued_at(self) -> dt.datetime:
        return _from_ms(self.payload.issued_at_ms)

    @property
    def scoped(self) -> bool:
        return bool(self.project or self.domain or self.system)

    def context(self, token: str, request_id: str = "") -> RequestContext:
        return RequestContext(
            request_id=request_id,
            user_id=self.user["id"],
            user_name=self.user["name"],
            user_domain_id=self.user["domain"]["id"],
            project_id=self.project["id"] if self.project else None,
            project_name=self.project["name"] if self.project else None,
            project_domain_id=self.project["domain"]["id"] if self.project else None,
            domain_id=self.domain["id"] if self.domain else None,
            domain_name=self.domain["name"] if self.domain else None,
            system_scope="all" if self.system else None,
            roles=tuple(r["name"] for r in self.roles),
            role_ids=tuple(r["id"] for r in self.roles),
            auth_token=token,
            audit_ids=self.payload.audit_ids,
            methods=self.payload.methods,
            application_credential_id=self.payload.app_cred_id,
            expires_at=_isotime_ms(self.payload.expires_at_ms),
        )

    def body(self, catalog: list | None) -> dict:
        token: dict = {
            "methods": list(self.payload.methods),
            "user": self.user,
            "audit_ids": list(self.payload.audit_ids),
            "expires_at": _isotime_ms(self.payload.expires_at_ms),
            "issued_at": _isotime_ms(self.payload.issued_at_ms),
        }
        if self.project:
            token["project"] = self.project
            token["is_domain"] = False
        elif self.domain:
            token["domain"] = self.domain
        elif self.system:
            token["system"] = {"all": True}
        if self.scoped:
            token["roles"] = list(self.roles)
            if catalog is not None:
                token["catalog"] = catalog
        if self.app_cred:
            token["application_credential"] = self.app_cred
        return {"token": token}


class CachedToken:
    """A validated token in the cache, with what its requests keep needing: context and JSON body."""

    __slots__ = ("info", "context", "bodies")

    def __init__(self, info: TokenInfo, token: str) -> None:
        self.info = info
        self.context = info.context(token)
        self.bodies: dict[bool, bytes] = {}  # with catalog? -> rendered {"token": ...}


@dataclass(frozen=True)
class TokenSettings:
    expiration: int = 3600
    allow_expired_window: int = 172800
    cache_size: int = 10000


class TokenService:
    def __init__(self, uow: UnitOfWorkFactory, keys: KeyRepository, settings: TokenSettings,
                 password_policy: users.PasswordPolicy, generation: Generation | None = None) -> None:
        self.uow = uow
        self.generation = generation or Generation(uow.engine, shared=False)
        self.generation.on_change(self.clear)
        self.keys = keys
        self.settings = settings
        self.password_policy = password_policy
        self.revocations = RevocationList(settings.expiration + settings.allow_expired_window)
        self._cache: OrderedDict[str, CachedToken] = OrderedDict()
        self._resolved: dict[tuple, TokenInfo] = {}  # (user, scope kind, scope id, app cred) -> info
        self._scopes: dict[tuple, tuple[str | None, str | None]] = {}  # (user, requested scope) -> scope
        self._catalog: list | None = None
        self._catalog_json: bytes | None = None
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._revocations_at = 0  # the generation the in-memory revocation list reflects
        self._keys_generation = 0  # the key repository generation the cached tokens were checked against

    # -- cache ---------------------------------------------------------------------------------

    def invalidate(self, *_args) -> None:
        """Something identity-related changed: drop every identity cache (this one included)."""
        self.generation.invalidate()

    def clear(self) -> None:
        """Forget every validated token and the catalog (a ``Generation`` listener)."""
        with self._lock:
            self._cache.clear()
            self._resolved.clear()
            self._scopes.clear()
            self._catalog = None
            self._catalog_json = None

    def _ensure_revocations(self) -> None:
        wanted = self.generation.value
        if self._revocations_at >= wanted:
            return
        with self._refresh_lock:  # concurrent validators wait for the refresh rather than skip it
            if self._revocations_at >= wanted:
                return
            with self.uow() as uow:
                self.revocations.refresh(uow)
            self._revocations_at = wanted

    def catalog(self) -> list:
        cached = self._catalog
        if cached is None:
            generation = self.generation.value
            with self.uow() as uow:
                cached = build_catalog(uow)
            with self._lock:
                if generation == self.generation.value:
                    self._catalog = cached
        return cached

    def cached_catalog(self) -> list | None:
        return self._catalog

    def _catalog_bytes(self) -> bytes:
        cached = self._catalog_json
        if cached is None:
            generation = self.generation.value
            cached = json.dumps(self.catalog(), separators=(",", ":")).encode()
            with self._lock:
                if generation == self.generation.value:
                    self._catalog_json = cached
        return cached

    # -- validate ------------------------------------------------------------------------------

    def cached(self, token: str) -> CachedToken | None:
        """The cache entry of a valid, unexpired token, or None; never does I/O beyond a stat.
        Always None when other processes share the database: only ``validate`` checks whether they
        changed something."""
        return None if self.generation.shared else self._cached(token)

    def _cached(self, token: str) -> CachedToken | None:
        keys_generation = self.keys.current_generation()
        if keys_generation != self._keys_generation:
            # Rotated keys: a cached token may have been encrypted with a key that is gone now.
            self.invalidate()
            self._keys_generation = keys_generation
            return None
        entry = self._cache.get(token)
        if entry is None or entry.info.payload.expires_at_ms <= time.time() * 1000:
            return None
        return entry

    def render(self, token: str, info: TokenInfo, with_catalog: bool) -> bytes:
        """The ``{"token": ...}`` JSON body, rendered once per cached token."""
        entry = self._cache.get(token)
        if entry is not None and entry.info is info:
            body = entry.bodies.get(with_catalog)
            if body is None:
                body = entry.bodies[with_catalog] = self._dump(info, with_catalog)
            return body
        return self._dump(info, with_catalog)

    def _dump(self, info: TokenInfo, with_catalog: bool) -> bytes:
        """The JSON body; the catalog (most of it, the same in every token) is spliced in pre-rendered."""
        body = json.dumps(info.body(None), separators=(",", ":")).encode()
        if with_catalog and info.scoped:
            body = body[:-2] + b',"catalog":' + self._catalog_bytes() + b"}}"
        return body

    def dump(self, info: TokenInfo, with_catalog: bool) -> bytes:
        """The JSON body of a token just issued."""
        return self._dump(info, with_catalog)

    def validate(self, token: str, allow_expired: bool = False) -> TokenInfo:
        """Return the token's info or raise ``InvalidTokenError``."""
        self.generation.check()
        entry = self._cached(token)
        if entry is not None:
            return entry.info
        entry = self._cache.get(token)  # cached but expired: decide below whether allow_expired covers it
        info = entry.info if entry is not None else self._validate_uncached(token)
        now_ms = int(time.time() * 1000)
        expires = info.payload.expires_at_ms
        if expires <= now_ms and not (allow_expired and now_ms < expires + self.settings.allow_expired_window * 1000):
            raise InvalidTokenError("token has expired")
        return info

    def _validate_uncached(self, token: str) -> TokenInfo:
        payload = self.keys.decrypt(token)
        generation = self.generation.value
        self._ensure_revocations()
        info = self._info(payload)
        if self.revocations.is_revoked(self._facts(info)):
            raise InvalidTokenError("token has been revoked")
        with self._lock:
            # Only cache what was built from data no newer change has overtaken.
            if generation == self.generation.value:
                self._cache[token] = CachedToken(info, token)
                if len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)
        return info

    def _info(self, payload: TokenPayload) -> TokenInfo:
        """``_build`` through a cache of what a (user, scope, application credential) resolves to.

        Many tokens share a subject and scope; resolving it costs a dozen queries.  The cache is
        dropped with the token cache on every identity change, so it is never staler than that."""
        key = (payload.user_id, payload.scope_kind, payload.scope_id, payload.app_cred_id)
        template = self._resolved.get(key)
        if template is None:
            generation = self.generation.value
            with self.uow() as uow:
                template = self._build(uow, payload)
            with self._lock:
                if generation == self.generation.value:
                    if len(self._resolved) >= self.settings.cache_size:
                        self._resolved.clear()
                    self._resolved[key] = template
        return template if template.payload == payload else dataclasses.replace(template, payload=payload)

    @staticmethod
    def _facts(info: TokenInfo) -> TokenFacts:
        domains = {info.user["domain"]["id"]}
        if info.project:
            domains.add(info.project["domain"]["id"])
        if info.domain:
            domains.add(info.domain["id"])
        return TokenFacts(
            user_id=info.user["id"],
            project_id=info.project["id"] if info.project else None,
            domain_ids=frozenset(domains),
            audit_id=info.payload.audit_ids[0],
            audit_chain_id=info.payload.audit_ids[-1],
            role_ids=frozenset(r["id"] for r in info.roles),
            application_credential_id=info.payload.app_cred_id,
            issued_at=info.issued_at,
        )

    def _build(self, uow: UnitOfWork, payload: TokenPayload) -> TokenInfo:
        """Resolve a payload against current identity data; anything disabled or gone invalidates it."""
        user = uow.session.get(User, payload.user_id)
        if user is None or not user.enabled:
            raise InvalidTokenError("user is gone or disabled")
        user_domain = uow.session.get(Domain, user.domain_id)
        if user_domain is None or not user_domain.enabled:
            raise InvalidTokenError("user's domain is disabled")
        user_ref = {
            "id": user.id,
            "name": user.name,
            "domain": {"id": user_domain.id, "name": user_domain.name},
            "password_expires_at": isotime(user.password_expires_at),
        }
        app_cred = None
        allowed_role_ids = None
        if payload.app_cred_id:
            cred = uow.session.get(ApplicationCredential, payload.app_cred_id)
            if cred is None:
                raise InvalidTokenError("application credential is gone")
            app_cred = {"id": cred.id, "name": cred.name, "restricted": not cred.unrestricted}
            allowed_role_ids = {r["id"] for r in cred.roles}
        kind, scope_id = payload.scope_kind, payload.scope_id
        if kind is None:
            return TokenInfo(payload, user_ref, app_cred=app_cred)
        if kind == "project":
            project = uow.session.get(Project, scope_id)
            if project is None or not project.enabled:
                raise InvalidTokenError("project is gone or disabled")
            domain = uow.session.get(Domain, project.domain_id)
            if domain is None or not domain.enabled:
                raise InvalidTokenError("project's domain is disabled")
            role_ids = roles.effective_role_ids(uow, user.id, project=project)
            scope = {"project": {"id": project.id, "name": project.name,
                                 "domain": {"id": domain.id, "name": domain.name}}}
        elif kind == "domain":
            domain = uow.session.get(Domain, scope_id)
            if domain is None or not domain.enabled:
                raise InvalidTokenError("domain is gone or disabled")
            role_ids = roles.effective_role_ids(uow, user.id, domain_id=domain.id)
            scope = {"domain": {"id": domain.id, "name": domain.name}}
        elif kind == "system":
            role_ids = roles.effective_role_ids(uow, user.id, system=True)
            scope = {"system": True}
        else:
            raise InvalidTokenError("unknown scope")
        if allowed_role_ids is not None:
            role_ids &= roles.expand_implied(allowed_role_ids, roles.implications(uow))
        if not role_ids:
            raise InvalidTokenError("no roles on the scope")
        role_refs = tuple({"id": r.id, "name": r.name} for r in roles.roles_by_id(uow, role_ids))
        return TokenInfo(payload, user_ref, roles=role_refs, app_cred=app_cred, **scope)

    # -- issue ---------------------------------------------------------------------------------

    def issue(self, auth: dict) -> tuple[str, TokenInfo]:
        """Authenticate an ``auth`` request body; return the new token and its info."""
        self.generation.check()
        identity = auth.get("identity")
        if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list):
            raise BadRequest("Invalid input for field 'identity': 'methods' is a required property.")
        methods = identity["methods"]
        if not methods:
            raise BadRequest("Invalid input for field 'identity/methods': [] is too short.")
        scope = auth.get("scope")
        now_ms = int(time.time() * 1000)
        expires_ms = now_ms + self.settings.expiration * 1000
        audit_ids: tuple[str, ...] = (_audit_id(),)
        app_cred_id = None
        if "token" in methods:
            original = self._token_method(identity.get("token"))
            if original.payload.app_cred_id:
                raise Unauthorized("A token created with an application credential cannot be rescoped.")
            user_id = original.user["id"]
            expires_ms = min(expires_ms, original.payload.expires_at_ms)
            audit_ids = (audit_ids[0], original.payload.audit_ids[-1])
            prior_methods = [m for m in original.payload.methods if m != "token"]
            methods = list(dict.fromkeys([*prior_methods, *methods]))
        elif "application_credential" in methods:
            if scope is not None:
                raise Unauthorized("Application credentials cannot request a scope.")
            cred = self._app_cred_method(identity.get("application_credential"))
            user_id, app_cred_id = cred.user_id, cred.id
            scope = {"project": {"id": cred.project_id}}
            if cred.expires_at:
                expires_ms = min(expires_ms, _ms(cred.expires_at))
        elif "password" in methods:
            user_id = self._password_method(identity.get("password"))
        else:
            raise Unauthorized(f"Unsupported authentication method(s): {', '.join(map(str, methods))}.")
        kind, scope_id = self._resolve_scope(user_id, scope)
        payload = TokenPayload(user_id, tuple(methods), kind, scope_id, now_ms, expires_ms, audit_ids, app_cred_id)
        token = self.keys.encrypt(payload)
        try:
            info = self._info(payload)
        except InvalidTokenError as exc:
            raise Unauthorized(self._scope_error(user_id, kind, scope_id, str(exc))) from None
        return token, info

    @staticmethod
    def _scope_error(user_id: str, kind: str | None, scope_id: str | None, reason: str) -> str:
        if reason == "no roles on the scope":
            return f"User {user_id} has no access to {kind} {scope_id}."
        return "The request you have made requires authentication."

    def _token_method(self, ref) -> TokenInfo:
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise BadRequest("Invalid input for field 'identity/token': 'id' is a required property.")
        try:
            return self.validate(ref["id"])
        except InvalidTokenError:
            raise Unauthorized("The request you have made requires authentication.") from None

    def _password_method(self, ref) -> str:
        if not isinstance(ref, dict) or not isinstance(ref.get("user"), dict):
            raise BadRequest("Invalid input for field 'identity/password': 'user' is a required property.")
        user_ref = ref["user"]
        password = user_ref.get("password")
        if not isinstance(password, str):
            raise BadRequest("Invalid input for field 'identity/password/user/password': a string is required.")
        with self.uow() as uow:
            try:
                user = users.find_user(uow, user_ref)
                domain = resources.get_domain(uow, user.domain_id)
            except NotFound:
                users.check_secret(password, None)  # same cost whether or not the user exists
                raise Unauthorized("The request you have made requires authentication.") from None
            if not user.enabled or not domain.enabled:
                raise Unauthorized("The request you have made requires authentication.")
            uow.session.expunge(user)
        before, failed = user.failed_auth_count, True
        try:
            users.verify_password(user, password, self.password_policy)
            failed = False
        finally:
            self._record_attempt(user, before, failed)
        return user.id

    def _record_attempt(self, user: User, before: int, failed: bool) -> None:
        """Persist the lockout counter when it moved (only with lockout configured).  A failure adds
        one in SQL, so concurrent failed logins are each counted (no lost update)."""
        after = user.failed_auth_count
        if not self.password_policy.lockout_failure_attempts or after == before:
            return
        count = User.failed_auth_count + 1 if failed and after == before + 1 else after  # else: reset
        # Not an identity change any cache depends on: a failed login must not drop every cached token.
        with getattr(self.uow, "untracked", self.uow)(write=True) as uow:
            uow.session.execute(update(User).where(User.id == user.id)
                                .values(failed_auth_count=count, failed_auth_at=user.failed_auth_at))

    def _app_cred_method(self, ref) -> ApplicationCredential:
        if not isinstance(ref, dict) or not isinstance(ref.get("secret"), str):
            raise BadRequest("Invalid input for field 'identity/application_credential': 'secret' is required.")
        with self.uow() as uow:
            try:
                cred = appcreds.find_for_auth(uow, ref)
            except NotFound:
                users.check_secret(ref["secret"], None)
                raise Unauthorized("The request you have made requires authentication.") from None
            uow.session.expunge(cred)
        if not users.check_secret(ref["secret"], cred.secret_hash):
            raise Unauthorized("The request you have made requires authentication.")
        if cred.expires_at and cred.expires_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None):
            raise Unauthorized("The application credential has expired.")
        return cred

    def _resolve_scope(self, user_id: str, scope) -> tuple[str | None, str | None]:
        """The (kind, id) a requested scope names, cached like ``_info`` (dropped on identity changes)."""
        if scope == "unscoped":
            return None, None
        try:
            key = (user_id, json.dumps(scope, sort_keys=True))
        except (TypeError, ValueError):
            return self._lookup_scope(user_id, scope)
        found = self._scopes.get(key)
        if found is None:
            generation = self.generation.value
            found = self._lookup_scope(user_id, scope)
            with self._lock:
                if generation == self.generation.value:
                    if len(self._scopes) >= self.settings.cache_size:
                        self._scopes.clear()
                    self._scopes[key] = found
        return found

    def _lookup_scope(self, user_id: str, scope) -> tuple[str | None, str | None]:
        with self.uow() as uow:
            if scope is None:
                user = users.get_user(uow, user_id)
                project_id = user.default_project_id
                if project_id:
                    project = uow.session.get(Project, project_id)
                    if project and project.enabled and roles.effective_role_ids(uow, user_id, project=project):
                        return "project", project_id
                return None, None
            if not isinstance(scope, dict) or len(scope) != 1:
                raise BadRequest("Invalid input for field 'scope': specify one of project, domain or system.")
            try:
                if "project" in scope:
                    return "project", resources.find_project(uow, scope["project"] or {}).id
                if "domain" in scope:
                    return "domain", resources.find_domain(uow, scope["domain"] or {}).id
            except NotFound as exc:
                raise Unauthorized(exc.message) from None
            if "system" in scope:
                if scope["system"] != {"all": True}:
                    raise BadRequest("Invalid input for field 'scope/system': only {'all': true} is supported.")
                return "system", "all"
        raise BadRequest("Invalid input for field 'scope': specify one of project, domain or system.")

    # -- revoke --------------------------------------------------------------------------------

    def revoke_token(self, token: str) -> None:
        try:
            info = self.validate(token)
        except InvalidTokenError:
            raise NotFound("Could not find token.") from None
        with self.uow(write=True) as uow:
            revoke(uow, audit_id=info.payload.audit_ids[0])

    def with_request_id(self, info: TokenInfo, token: str, request_id: str) -> RequestContext:
        entry = self._cache.get(token)
        ctx = entry.context if entry is not None and entry.info is info else info.context(token)
        return ctx.with_request_id(request_id)
