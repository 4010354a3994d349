"""Block Storage (Cinder v3): volumes, snapshots, types, quotas, backups, transfers and attachments,
backed by real file volumes converged by the volume agent."""

from onestack.core.http import ServiceSpec
from onestack.core.microversion import Microversions

from .errors import ERROR_FORMAT
from .policies import RULES
from .routes import ROUTES

SPEC = ServiceSpec(
    type="block-storage",
    name="cinderv3",
    prefix="/volume",
    endpoint_path="/volume/v3",
    routes=ROUTES,
    rules=RULES,
    error_format=ERROR_FORMAT,
    extra_types=("volumev3",),
    microversions=Microversions("volume", "3.0", "3.71", ()),
)
