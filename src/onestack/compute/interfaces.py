"""The host agent's port interface work: hot-plug attached ports into the guest and unplug detached ones.

The API has already bound or created the port (``service/interfaces.py``); here the guest gets it
(``GuestDriver.attach_interface``), the network agent attaches its host device (the agent's ``plug``
callback, which waits for the port to become ACTIVE on real drivers), and the server's ``addresses``
follow.  A failed attach unplugs what was plugged and gives the port back to the network service
(deleted when compute created it, else unbound), so nothing is left behind; the row keeps the fault
for the API request that waits for it.  A stopped guest gets the device at its next start.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from onestack.core.db import utcnow
from onestack.core.errors import ApiError
from onestack.core.uow import UnitOfWorkFactory

from .drivers.base import GuestDriver, GuestDriverError, GuestNotFound, Interface, Unsupported
from .model import Instance, VirtualInterface
from .service import interfaces as svc
from .service.common import INSTANCE
from .service.servers import add_event

log = logging.getLogger(__name__)

Plug = Callable[[str, GuestDriver, tuple[Interface, ...], float], None]  # ..., seconds left to wait for ACTIVE


class HostInterfaces:
    def __init__(self, uow: UnitOfWorkFactory, clients: dict, interface_of: Callable[[dict], Interface],
                 addresses_of: Callable[[list[dict]], dict], plug: Plug, timeout: float = 300.0) -> None:
        self.uow = uow
        self.timeout = timeout  # [compute] vif_plugging_timeout: an attach's whole budget, from its request
        self.clients = clients
        self.interface_of = interface_of
        self.addresses_of = addresses_of
        self.plug = plug

    def converge(self, server_id: str, host: str, driver: GuestDriver) -> None:
        """Carry out the server's requested attaches and detaches."""
        with self.uow() as uow:
            rows = [(r.id, r.port_id, r.status) for r in svc.interfaces(uow, server_id)
                    if r.status in svc.IN_FLIGHT]
        for vif_id, port_id, status in rows:
            if status in (svc.ATTACHING, svc.PLUGGING):
                self._attach(vif_id, server_id, port_id, host, driver)
            else:
                self._detach(vif_id, server_id, port_id, host, driver)

    def _port(self, server_id: str, port_id: str) -> dict | None:
        return next((p for p in self.clients["network"].ports_for_server(server_id) if p["id"] == port_id), None)

    def _attach(self, vif_id: str, server_id: str, port_id: str, host: str, driver: GuestDriver) -> None:
        with self.uow(write=True) as uow:
            row = svc.claim_attach(uow, vif_id)
            if row is None:  # withdrawn by the API request that waited for it
                return
            left = self.timeout - (utcnow() - row.created_at).total_seconds()
        network = self.clients["network"]
        plugged = False
        try:
            port = self._port(server_id, port_id)
            if port is None:
                raise GuestDriverError(f"port {port_id} is no longer bound to the server")
            interface = self.interface_of(port)
            if not driver.supports_interface_attach:
                raise Unsupported("Attaching interfaces is not supported for this instance.")
            with contextlib.suppress(GuestNotFound):  # no guest now: the next one is made with the port
                driver.attach_interface(server_id, interface)
                plugged = True
            if plugged:
                self.plug(server_id, driver, (interface,), max(1.0, left))
        except (GuestDriverError, ApiError, OSError) as exc:
            log.warning("attach of port %s to %s failed: %s", port_id, server_id, exc)
            if plugged:
                with contextlib.suppress(GuestDriverError):
                    driver.detach_interface(server_id, port_id)
            with contextlib.suppress(ApiError):
                network.release_port(server_id, port_id)
            fault = {"code": 400 if isinstance(exc, Unsupported) else 500, "message": str(exc)}
            self._record(vif_id, server_id, host, "attach_interface", False, str(exc), status=svc.FAILED,
                         fault=fault, only_if=svc.PLUGGING, otherwise=None)
            return
        self._record(vif_id, server_id, host, "attach_interface", True, status=svc.ATTACHED, only_if=svc.PLUGGING)

    def _detach(self, vif_id: str, server_id: str, port_id: str, host: str, driver: GuestDriver) -> None:
        try:
            with contextlib.suppress(GuestNotFound):
                driver.detach_interface(server_id, port_id)
        except GuestDriverError as exc:
            log.warning("detach of port %s from %s failed: %s", port_id, server_id, exc)
            self._record(vif_id, server_id, host, "detach_interface", False, str(exc), status=svc.ATTACHED)
            return
        self.clients["network"].release_port(server_id, port_id)
        self._record(vif_id, server_id, host, "detach_interface", True)

    def _record(self, vif_id: str, server_id: str, host: str, action: str, ok: bool, details: str | None = None,
                status: str | None = None, fault: dict | None = None, only_if: str | None = None,
                otherwise: str | None = "keep") -> None:
        """The row's outcome (None: gone), the server's addresses and the action's event, together.  With
        ``only_if``, the outcome applies only to a row still in that state; a row the API cancelled meanwhile
        (now ``detaching``) is kept for the next pass (``otherwise="keep"``) or deleted (None)."""
        addresses = self.addresses_of(self.clients["network"].ports_for_server(server_id))
        with self.uow(write=True) as uow:
            row = uow.session.get(VirtualInterface, vif_id, with_for_update=True)
            if row is not None:
                if only_if is not None and row.status != only_if:
                    if otherwise is None:
                        uow.session.delete(row)
                    else:
                        uow.emit(INSTANCE, server_id)  # the cancelled attach is undone by the next pass
                elif status is None:
                    uow.session.delete(row)
                else:
                    row.status, row.fault = status, fault
            instance = uow.session.get(Instance, server_id, with_for_update=True)
            if instance is None or instance.deleted:
                return
            instance.addresses = addresses
            add_event(uow, server_id, f"compute_{action}", host, ok, details, action_name=action)
