"""The identity service's in-process facade: what the composition root and other services use.

Owns identity's dependencies (key repository, token service, password policy); handlers reach them
as ``req.deps``.  Other services authenticate requests and read unified limits through it.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.context import RequestContext
from onestack.core.errors import Unauthorized
from onestack.core.uow import UnitOfWorkFactory

from .backends.fernet import InvalidTokenError, KeyRepository
from .service import bootstrap as bootstrap_svc
from .service import catalog as catalog_svc
from .service import limits as limits_svc
from .service.changes import Generation, ReadCache, TrackedUnitOfWorkFactory
from .service.common import CHANGED
from .service.tokens import TokenService, TokenSettings
from .service.users import PasswordPolicy


class IdentityClient:
    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, bus: Bus) -> None:
        ident = settings.identity
        self.settings = settings
        self.uow = TrackedUnitOfWorkFactory(uow)  # every identity write counts as a change
        # Scaled out (a message bus between processes), other API processes write the same database:
        # caches are then checked against the database's change counter on each request.
        self.generation = Generation(uow.engine, shared=bool(settings.bus.url))
        self.keys = KeyRepository(settings.data_path / "fernet-keys", ident.max_active_keys)
        self.password_policy = PasswordPolicy(
            rounds=ident.bcrypt_rounds,
            lockout_failure_attempts=ident.lockout_failure_attempts,
            lockout_duration=ident.lockout_duration,
            password_expires_days=ident.password_expires_days,
        )
        self.tokens = TokenService(
            self.uow, self.keys,
            TokenSettings(ident.token_expiration, ident.allow_expired_window, ident.cache_size),
            self.password_policy, self.generation,
        )
        self.reads = ReadCache(self.generation)
        bus.subscribe(CHANGED, self.generation.invalidate)

    # -- used by the HTTP layer of every service -------------------------------------------------

    def authenticate(self, token: str, request_id: str = "") -> RequestContext:
        try:
            info = self.tokens.validate(token)
        except InvalidTokenError:
            raise Unauthorized() from None
        return self.tokens.with_request_id(info, token, request_id)

    def authenticate_cached(self, token: str, request_id: str = "") -> RequestContext | None:
        """The context of a token validated before and still valid, from memory; None otherwise."""
        entry = self.tokens.cached(token)
        if entry is None:
            return None
        return entry.context.with_request_id(request_id)

    # -- set-up -----------------------------------------------------------------------------------

    def passwords(self) -> dict[str, str]:
        """The bootstrap passwords, generated once and kept (0600) in the data dir."""
        path = self.settings.data_path / "passwords.json"
        if path.exists():
            stored = json.loads(path.read_text())
        else:
            stored = {"admin": secrets.token_urlsafe(18), "demo": secrets.token_urlsafe(18)}
        if self.settings.identity.admin_password:
            stored["admin"] = self.settings.identity.admin_password
        _write_private(path, json.dumps(stored, indent=2) + "\n")
        return stored

    def bootstrap(self, services: list[tuple[str, str, str]]) -> dict[str, str]:
        """Idempotent: keys, default domain/roles/projects/users and the catalog of ``services``."""
        self.keys.setup()
        passwords = self.passwords()
        cmd = bootstrap_svc.Bootstrap(
            admin_password=passwords["admin"],
            demo_password=passwords["demo"],
            region=self.settings.server.region,
            services=tuple(services),
            reset_admin_password=bool(self.settings.identity.admin_password),
        )
        with self.uow(write=True) as uow:
            bootstrap_svc.bootstrap(uow, cmd, self.password_policy)
        self.tokens.invalidate()
        return passwords

    def register_service(self, type_: str, name: str, url: str) -> None:
        with self.uow(write=True) as uow:
            catalog_svc.ensure_service_endpoints(uow, type_, name, url, self.settings.server.region)

    def ensure_registered_limits(self, service_type: str, defaults: dict[str, int]) -> None:
        """Register a service's default quotas as unified registered limits (idempotent)."""
        region = self.settings.server.region
        with self.uow(write=True) as uow:
            services = catalog_svc.list_services(uow, {"type": service_type})
            if not services:
                return
            existing = {r.resource_name for r in limits_svc.list_registered_limits(
                uow, {"service_id": services[0].id, "region_id": region})}
            missing = [{"service_id": services[0].id, "region_id": region, "resource_name": name,
                        "default_limit": value} for name, value in defaults.items() if name not in existing]
            if missing:
                limits_svc.create_registered_limits(uow, missing)

    def set_project_limits(self, service_type: str, project_id: str, values: dict[str, int]) -> None:
        """Create or update the project's unified limits of a service (e.g. ``openstack quota set``)."""
        region = self.settings.server.region
        with self.uow(write=True) as uow:
            services = catalog_svc.list_services(uow, {"type": service_type})
            if not services:
                return
            service_id = services[0].id
            existing = {r.resource_name: r for r in limits_svc.list_limits(
                uow, {"service_id": service_id, "region_id": region, "project_id": project_id})}
            new = []
            for name, value in values.items():
                if name in existing:
                    limits_svc.update_limit(uow, existing[name].id, {"resource_limit": value})
                else:
                    new.append({"service_id": service_id, "region_id": region, "project_id": project_id,
                                "resource_name": name, "resource_limit": value})
            if new:
                limits_svc.create_limits(uow, new)

    def delete_project_limits(self, service_type: str, project_id: str) -> None:
        """Drop the project's limits of a service: it falls back to the registered defaults."""
        with self.uow(write=True) as uow:
            services = catalog_svc.list_services(uow, {"type": service_type})
            if not services:
                return
            for row in limits_svc.list_limits(uow, {"service_id": services[0].id, "project_id": project_id}):
                limits_svc.delete_limit(uow, row.id)

    def effective_limit(self, service_type: str, resource_name: str, project_id: str) -> int | None:
        with self.uow() as uow:
            services = catalog_svc.list_services(uow, {"type": service_type})
            if not services:
                return None
            return limits_svc.effective_limit(uow, services[0].id, self.settings.server.region, resource_name,
                                              project_id)

    def effective_limits(self, service_type: str, resource_names: list[str], project_id: str) -> dict[str, int | None]:
        """``effective_limit`` of several resources in one read (a service's quota check needs a few)."""
        with self.uow() as uow:
            services = catalog_svc.list_services(uow, {"type": service_type})
            if not services:
                return dict.fromkeys(resource_names)
            return limits_svc.effective_limits(uow, services[0].id, self.settings.server.region, resource_names,
                                               project_id)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
