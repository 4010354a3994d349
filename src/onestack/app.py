"""Composition root: build(settings) -> the cloud: ASGI app, service clients and agents.

Nothing here runs at import time; ``onestack up``, ``onestack api`` and the tests all call ``build``.
Each service contributes one block to ``add_services``: its client (dependencies + in-process facade,
built from the clients it needs) and, if it has a data plane, its agent.

``build`` is ``build_identity`` (the kernel and identity, which every other service authenticates
through) followed by ``add_services``.  Only identity is imported with this module: ``onestack up`` on
an existing data dir serves identity first and imports the other services (most of the start-up
CPU time) in the background; requests for them wait until they are mounted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from onestack import identity
from onestack.core.bus import Bus, make_bus
from onestack.core.config import Settings
from onestack.core.db import make_engine
from onestack.core.http import ApiApp, Mount, ServiceSpec
from onestack.core.policy import Enforcer
from onestack.core.reconcile import Agent
from onestack.core.uow import UnitOfWorkFactory
from onestack.identity.client import IdentityClient

log = logging.getLogger(__name__)


def services() -> tuple[ServiceSpec, ...]:
    """Every service onestack serves, in catalog order.  A service appears here once it exists."""
    from onestack import compute, image, network, placement, volume

    return identity.SPEC, compute.SPEC, placement.SPEC, image.SPEC, network.SPEC, volume.SPEC


@dataclass
class Cloud:
    settings: Settings
    engine: Engine
    bus: Bus
    uow: UnitOfWorkFactory
    clients: dict  # service type -> client facade
    asgi: ApiApp
    agents: list[Agent] = field(default_factory=list)

    @property
    def identity(self) -> IdentityClient:
        return self.clients["identity"]

    def catalog_entries(self, base_url: str | None = None) -> list[tuple[str, str, str]]:
        base = (base_url or self.settings.server.base_url).rstrip("/")
        entries = []
        for spec in services():
            for type_ in (spec.type, *spec.extra_types):
                entries.append((type_, spec.name, base + spec.endpoint_path))
        return entries

    def bootstrap(self) -> dict[str, str]:
        """Idempotent first-start set-up; returns the bootstrap passwords."""
        passwords = self.identity.bootstrap(self.catalog_entries())
        for client in self.clients.values():
            if client is not self.identity and hasattr(client, "bootstrap"):
                client.bootstrap()
        if self.settings.compute.bootstrap_image and "image" in self.clients:  # as devstack registers cirros
            from onestack.compute.testimage import bootstrap as bootstrap_test_image

            bootstrap_test_image(self.clients["image"], self.settings.data_path / "compute" / "test-images",
                                 vm=self.settings.compute.driver == "qemu")
        self.uow.relay_outbox()
        return passwords

    def start_agents(self) -> None:
        for agent in self.agents:
            agent.start()

    def stop_agents(self) -> None:
        for agent in self.agents:
            agent.stop()

    def close(self) -> None:
        self.stop_agents()
        if hasattr(self.bus, "close"):
            self.bus.close()
        self.engine.dispose()


def build(settings: Settings, bus: Bus | None = None) -> Cloud:
    cloud = build_identity(settings, bus)
    cloud.asgi.add_mounts(add_services(cloud), complete=True)
    return cloud


def build_identity(settings: Settings, bus: Bus | None = None) -> Cloud:
    """The kernel and identity only, serving identity; ``add_services`` adds everything else."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url, settings.database.echo)
    bus = bus or make_bus(settings.bus.url)
    uow = UnitOfWorkFactory(engine, bus)
    clients: dict = {"identity": IdentityClient(settings, uow, bus)}
    mount = Mount(identity.SPEC, clients["identity"], Enforcer(identity.SPEC.rules, _policy_file(settings)))
    asgi = ApiApp(
        [mount],
        authenticate=clients["identity"].authenticate,
        authenticate_cached=clients["identity"].authenticate_cached,
        public_url=settings.server.public_url,
        log_requests=settings.server.log_requests,
        root=mount,
        complete=False,
    )
    return Cloud(settings, engine, bus, uow, clients, asgi)


def _policy_file(settings: Settings) -> str:
    return settings.server.policy_file or str(settings.data_path / "policy.yaml")


def _import_services() -> None:
    """Import every service's modules (the bulk of start-up CPU) with SQLAlchemy's mapper configuration
    on hold: a request in another thread would otherwise configure the mappers while a model module is
    half imported (a relationship to a class not defined yet), which breaks the ORM for good.  Such a
    request waits until the imports are done instead."""
    import importlib

    from onestack import migrations

    orm_mapper = importlib.import_module("sqlalchemy.orm.mapper")  # the module, not the function
    with orm_mapper._CONFIGURE_MUTEX:  # re-entrant: mappers defined by this thread's imports still get it
        migrations.metadata()  # every service's model module (and with it, its package)
        services()


def add_services(cloud: Cloud) -> list[Mount]:
    """Build every service but identity into ``cloud`` (clients, agents); return their mounts."""
    _import_services()
    from onestack import compute
    from onestack.compute.agent import build_agents as build_compute_agents
    from onestack.compute.client import ComputeClient
    from onestack.image.client import ImageClient
    from onestack.network.agent import build_agent as build_network_agent
    from onestack.network.client import NetworkClient, resolve_driver_name
    from onestack.placement.client import PlacementClient
    from onestack.volume.agent import build_agent as build_volume_agent
    from onestack.volume.client import VolumeClient, make_driver

    settings, uow, bus, clients, agents = cloud.settings, cloud.uow, cloud.bus, cloud.clients, cloud.agents

    # image (quotas are unified limits kept by identity)
    clients["image"] = ImageClient(settings, uow, clients["identity"])

    # networking (the agent's data plane: linux when root with the tools, else fake; [network] driver)
    clients["network"] = NetworkClient(settings, uow, bus, clients["identity"])
    agents.append(build_network_agent(settings, uow, bus, resolve_driver_name(settings.network.driver)))

    # placement
    clients["placement"] = PlacementClient(settings, uow, bus)

    # compute (reaches identity, placement, image and network through ``clients``)
    clients["compute"] = ComputeClient(settings, uow, bus, clients)
    agents.extend(build_compute_agents(settings, uow, bus, clients))  # scheduler + this host ([compute] driver)

    # block storage (quotas are unified limits; volumes from and to images through the image client)
    volume_driver = make_driver(settings)
    clients["block-storage"] = VolumeClient(settings, uow, clients["identity"], clients.get("image"), volume_driver)
    agents.append(build_volume_agent(uow, bus, volume_driver, clients["block-storage"].backup_root,
                                     settings.data_path / "volume-work", clients.get("image"),
                                     host=clients["block-storage"].host))

    policy_file = _policy_file(settings)
    mounts = [Mount(spec, clients[spec.type], Enforcer(spec.rules, policy_file)) for spec in services()[1:]]
    # compute's metadata service for guests (behind the network's metadata proxy), not in the catalog
    mounts.append(Mount(compute.METADATA_SPEC, clients["compute"], Enforcer(compute.METADATA_SPEC.rules)))
    return mounts
