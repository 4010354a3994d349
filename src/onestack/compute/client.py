"""The compute service's in-process facade: what the composition root and other services use.

Holds compute's dependencies (settings, unit of work, bus) and reaches the services it needs through
the shared ``clients`` dict (identity for quotas, placement for scheduling, image and network when
those services exist), looked up when needed so the composition root's order does not matter.
"""

from __future__ import annotations

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.uow import UnitOfWorkFactory

from .service import flavors as flavors_svc
from .service import quotas as quotas_svc

SERVICE_TYPE = "compute"


class ComputeClient:
    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, bus: Bus, clients: dict) -> None:
        self.settings = settings
        self.uow = uow
        self.bus = bus
        self.clients = clients

    # -- other services ---------------------------------------------------------------------------

    @property
    def identity(self):
        return self.clients["identity"]

    @property
    def placement(self):
        return self.clients.get("placement")

    @property
    def image(self):
        return self.clients.get("image")

    @property
    def network(self):
        return self.clients.get("network")

    # -- quotas (Keystone unified limits) -----------------------------------------------------------

    def limit(self, name: str, project_id: str) -> int:
        """The project's quota for a legacy quota name; -1 = unlimited."""
        unified, default = quotas_svc.RESOURCES[name]
        value = self.identity.effective_limit(SERVICE_TYPE, unified, project_id)
        return default if value is None else value

    def default_limit(self, name: str) -> int:
        return self.limit(name, "")

    def set_limits(self, project_id: str, values: dict[str, int]) -> None:
        self.identity.set_project_limits(
            SERVICE_TYPE, project_id, {quotas_svc.RESOURCES[k][0]: v for k, v in values.items()})

    def reset_limits(self, project_id: str) -> None:
        self.identity.delete_project_limits(SERVICE_TYPE, project_id)

    # -- set-up -----------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Idempotent: default flavors and the default quotas as registered limits."""
        with self.uow(write=True) as uow:
            flavors_svc.ensure_default_flavors(uow)
        self.identity.ensure_registered_limits(SERVICE_TYPE, quotas_svc.defaults())
