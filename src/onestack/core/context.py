"""Who is calling, with what scope and roles: everything policy and service code need to know."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None  # set for domain-scoped tokens
    domain_name: str | None = None
    system_scope: str | None = None  # "all" for system-scoped tokens
    roles: tuple[str, ...] = ()  # effective role names, implied roles included
    role_ids: tuple[str, ...] = ()
    auth_token: str | None = None
    audit_ids: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    application_credential_id: str | None = None
    expires_at: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def with_request_id(self, request_id: str) -> RequestContext:
        """This context for another request: what a cached token hands every request (a plain copy,
        several times cheaper than ``dataclasses.replace`` on this per-request path)."""
        new = object.__new__(RequestContext)
        new.__dict__.update(self.__dict__)
        new.__dict__["request_id"] = request_id
        return new

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_system(self) -> bool:
        return self.system_scope == "all"

    def creds(self) -> dict:
        """The credential dict policy rules look at (oslo.policy's names)."""
        return {
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "roles": list(self.roles),
            "token.user.id": self.user_id,
            "token.project.id": self.project_id,
            "token.domain.id": self.domain_id,
            "token.project.domain.id": self.project_domain_id,
        }
