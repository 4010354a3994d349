"""Compute (Nova v2.1): flavors, key pairs, servers and their actions, quotas, hosts; the scheduler and
the compute host agent with its guest driver interface."""

from onestack.core.http import ServiceSpec
from onestack.core.microversion import Microversions

from .errors import ERROR_FORMAT
from .policies import RULES
from .routes import METADATA_ROUTES, ROUTES

SPEC = ServiceSpec(
    type="compute",
    name="nova",
    prefix="/compute",
    endpoint_path="/compute/v2.1",
    routes=ROUTES,
    rules=RULES,
    error_format=ERROR_FORMAT,
    microversions=Microversions("compute", "2.1", "2.100", ("X-OpenStack-Nova-API-Version",)),
    request_id_headers=("X-Compute-Request-Id",),
)

# The metadata service (not in the catalog): mounted at /metadata, where the network's proxy forwards.
METADATA_SPEC = ServiceSpec(
    type="compute-metadata",
    name="nova-metadata",
    prefix="/metadata",
    endpoint_path="/metadata",
    routes=METADATA_ROUTES,
    rules={},
    error_format=ERROR_FORMAT,
)
