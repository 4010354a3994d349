"""Placement: resource providers, inventories, allocations, traits, aggregates, allocation candidates."""

from onestack.core.http import ServiceSpec
from onestack.core.microversion import Microversions

from .errors import ERROR_FORMAT
from .policies import RULES
from .routes import ROUTES

SPEC = ServiceSpec(
    type="placement",
    name="placement",
    prefix="/placement",
    endpoint_path="/placement",
    routes=ROUTES,
    rules=RULES,
    error_format=ERROR_FORMAT,
    microversions=Microversions("placement", "1.0", "1.39"),
)
