"""Identity (Keystone v3): authentication, tokens, projects, users, roles, catalog, unified limits."""

from onestack.core.http import ServiceSpec

from .errors import ERROR_FORMAT, unauthorized_headers
from .policies import RULES
from .routes import ROUTES

SPEC = ServiceSpec(
    type="identity",
    name="keystone",
    prefix="/identity",
    endpoint_path="/identity",
    routes=ROUTES,
    rules=RULES,
    error_format=ERROR_FORMAT,
    unauthorized_headers=unauthorized_headers,
)
