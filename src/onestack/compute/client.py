"""The compute service's in-process facade: what the composition root and other services use.

Holds compute's dependencies (settings, unit of work, bus) and reaches the services it needs through
the shared ``clients`` dict (identity for quotas, placement for scheduling, image and network when
those services exist), looked up when needed so the composition root's order does not matter.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from onestack.core.bus import Bus, InProcessBus
from onestack.core.config import Settings
from onestack.core.db import utcnow
from onestack.core.uow import UnitOfWorkFactory

from .model import Instance
from .service import common as svc_common
from .service import flavors as flavors_svc
from .service import quotas as quotas_svc

SERVICE_TYPE = "compute"
CONSOLE = "compute.console"  # bus hint: the agent of the server's host refreshes its console copy now
# bus hint from block storage (Nova's ``volume-extended`` external event), key "<server>/<volume>/<new size GiB>":
# the agent of the server's host tells the guest the attached volume grew
VOLUME_EXTENDED = "compute.volume-extended"
# bus hint from networking (Nova's ``network-changed`` external event), key "<server>": a port of the server
# gained or lost a floating IP (or a fixed one); the agent of the server's host refreshes the server's addresses
NETWORK_CHANGED = svc_common.NETWORK_CHANGED


class ComputeClient:
    LIMIT_TTL = 2.0  # seconds a project's quota is reused (quota updates in this process apply at once)

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, bus: Bus, clients: dict) -> None:
        self.settings = settings
        self.uow = uow
        self.bus = bus
        self.clients = clients
        self._limits: dict[tuple[str, str], tuple[float, int]] = {}
        self._limits_lock = threading.Lock()
        self.local_drivers: dict = {}  # host -> guest driver of a compute agent in this process

    # -- console output (os-getConsoleOutput) -------------------------------------------------------

    def console_output(self, server_id: str, host: str, length: int | None, timeout: float = 3.0) -> str | None:
        """The live tail of the guest's console log: read directly when the host's agent runs in this
        process, else asked of that agent over the bus (it writes a fresh copy; we wait for it).
        None when neither answers (the caller falls back to the last copy)."""
        driver = self.local_drivers.get(host)
        if driver is not None:
            if not driver.supports_console_output:
                return None
            try:
                return driver.console_output(server_id, length)
            except Exception:  # noqa: BLE001 - gone or failing guest: the stored copy will do
                return None
        if isinstance(self.bus, InProcessBus):  # every agent of this cloud runs here: nobody else to ask
            return None
        asked = utcnow()
        self.bus.publish(CONSOLE, server_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with self.uow() as uow:
                meta = uow.session.scalar(select(Instance.system_metadata).where(Instance.id == server_id)) or {}
            if (meta.get("console_at") or "") >= asked.isoformat():
                text = meta.get("console_log") or ""
                return "\n".join(text.splitlines()[-length:]) if length is not None else text
        return None

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

    @property
    def volume(self):
        return self.clients.get("block-storage")

    # -- quotas (Keystone unified limits) -----------------------------------------------------------

    def limit(self, name: str, project_id: str) -> int:
        """The project's quota for a legacy quota name; -1 = unlimited (cached for ``LIMIT_TTL``)."""
        now = time.monotonic()
        with self._limits_lock:
            hit = self._limits.get((name, project_id))
        if hit is not None and now - hit[0] < self.LIMIT_TTL:
            return hit[1]
        # every quota of the project in one read: a server create asks for four of them
        found = self.identity.effective_limits(SERVICE_TYPE, [u for u, _ in quotas_svc.RESOURCES.values()],
                                               project_id)
        values = {legacy: default if found.get(unified) is None else found[unified]
                  for legacy, (unified, default) in quotas_svc.RESOURCES.items()}
        with self._limits_lock:
            if len(self._limits) > 100000:
                self._limits.clear()
            for legacy, value in values.items():
                self._limits[(legacy, project_id)] = (now, value)
        return values[name]

    def default_limit(self, name: str) -> int:
        return self.limit(name, "")

    def set_limits(self, project_id: str, values: dict[str, int]) -> None:
        self.identity.set_project_limits(
            SERVICE_TYPE, project_id, {quotas_svc.RESOURCES[k][0]: v for k, v in values.items()})
        self._forget(project_id)

    def reset_limits(self, project_id: str) -> None:
        self.identity.delete_project_limits(SERVICE_TYPE, project_id)
        self._forget(project_id)

    def _forget(self, project_id: str) -> None:
        with self._limits_lock:
            for key in [k for k in self._limits if k[1] == project_id]:
                del self._limits[key]

    # -- set-up -----------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Idempotent: default flavors and the default quotas as registered limits."""
        with self.uow(write=True) as uow:
            flavors_svc.ensure_default_flavors(uow)
        self.identity.ensure_registered_limits(SERVICE_TYPE, quotas_svc.defaults())
