"""Images (Glance v2): image records, sharing, tags, streaming data on a filesystem store, import."""

from onestack.core.http import ServiceSpec

from .errors import ERROR_FORMAT
from .policies import RULES
from .routes import ROUTES

SPEC = ServiceSpec(
    type="image",
    name="glance",
    prefix="/image",
    endpoint_path="/image",
    routes=ROUTES,
    rules=RULES,
    error_format=ERROR_FORMAT,
)
