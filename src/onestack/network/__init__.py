"""Networking (Neutron v2.0): networks, subnets, ports, routers, floating IPs, security groups, quotas.

API under ``/network/v2.0``; the data plane (Linux bridges, VXLAN, namespaces, dnsmasq, radvd, nftables)
is converged by the network agent (``agent.py``) through a driver (``drivers/``).
"""

from onestack.core.http import ServiceSpec

from .errors import ERROR_FORMAT
from .policies import RULES
from .routes import ROUTES

SPEC = ServiceSpec(
    type="network",
    name="neutron",
    prefix="/network",
    endpoint_path="/network",
    routes=ROUTES,
    rules=RULES,
    error_format=ERROR_FORMAT,
)
