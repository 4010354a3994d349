"""First start, like devstack: ``public`` (flat, external), ``private`` for ``demo`` and ``router1``.

Idempotent: each piece is created only when no resource of that name exists yet, so re-running
``up`` keeps what is there (and what an operator changed).
"""

from __future__ import annotations

import ipaddress
import logging

from sqlalchemy import select

from onestack.core.errors import ApiError

from .. import model as m
from . import networks as net_svc
from . import routers as router_svc
from .common import SYSTEM

log = logging.getLogger(__name__)


def _project_id(identity, name: str) -> str | None:
    try:
        from sqlalchemy import text

        with identity.uow() as uow:
            sql = "SELECT id FROM identity_project WHERE name = :n AND domain_id = 'default'"
            return uow.session.execute(text(sql), {"n": name}).scalar()
    except Exception:  # noqa: BLE001 - identity's schema is not ours to depend on; skip quietly
        return None


def bootstrap_topology(client, settings) -> None:
    demo = _project_id(client.identity, "demo") if client.identity is not None else None
    admin = _project_id(client.identity, "admin") if client.identity is not None else None
    try:
        _bootstrap(client, settings, demo or "", admin or "")
    except ApiError as exc:
        log.warning("network bootstrap skipped: %s", exc.message)


def _bootstrap(client, settings, demo: str, admin: str) -> None:
    limits = client.limits

    def find(uow, model, name):
        return uow.session.scalar(select(model).where(model.name == name).limit(1))

    public_cidr = ipaddress.ip_network(settings.public_cidr)
    with client.uow() as uow:
        public = find(uow, m.Network, "public")
        public_id = public.id if public is not None else None
    if public_id is None:
        public_id = client.write(lambda uow: net_svc.create_network(uow, SYSTEM, limits, client.config, {
            "name": "public", "router:external": True, "is_default": True, "provider:network_type": "flat",
            "provider:physical_network": "public", "project_id": admin}).id)
        client.write(lambda uow: net_svc.create_subnet(uow, SYSTEM, limits, {
            "name": "public-subnet", "network_id": public_id, "cidr": str(public_cidr), "enable_dhcp": False,
            "project_id": admin}))
    if not demo:
        return
    with client.uow() as uow:
        private = find(uow, m.Network, "private")
        private_id = private.id if private is not None else None
    if private_id is None:
        private_id = client.write(lambda uow: net_svc.create_network(uow, SYSTEM, limits, client.config, {
            "name": "private", "project_id": demo}).id)
        client.write(lambda uow: net_svc.create_subnet(uow, SYSTEM, limits, {
            "name": "private-subnet", "network_id": private_id, "cidr": settings.private_cidr,
            "dns_nameservers": [], "project_id": demo}))
    with client.uow() as uow:
        router = find(uow, m.Router, "router1")
        has_router = router is not None
        subnet_id = uow.session.scalar(select(m.Subnet.id).where(m.Subnet.network_id == private_id).limit(1))
    if not has_router:
        router_id = client.write(lambda uow: router_svc.create_router(uow, SYSTEM, limits, {
            "name": "router1", "project_id": demo, "external_gateway_info": {"network_id": public_id}}).id)
        if subnet_id is not None:
            client.write(lambda uow: router_svc.add_interface(uow, SYSTEM, limits, router_id,
                                                              {"subnet_id": subnet_id}))
