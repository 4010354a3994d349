"""An in-memory guest driver for tests, benchmarks and simulated hosts.

Configurable: ``delay`` seconds per operation, and failures either by ``fail`` (operation names that
always fail, e.g. ``{"spawn"}``) or per guest through metadata ``fake_fail=<op>[,<op>]`` so an API
test can make one server's build fail.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .base import (
    Guest,
    GuestDriver,
    GuestDriverError,
    GuestInfo,
    GuestNotFound,
    HostResources,
    Interface,
    PowerState,
    VolumeAttachment,
)


@dataclass
class _FakeGuest:
    guest: Guest
    state: PowerState = PowerState.RUNNING
    started: float = field(default_factory=time.monotonic)
    interfaces: dict[str, Interface] = field(default_factory=dict)
    volumes: dict[str, VolumeAttachment] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)


class FakeGuestDriver(GuestDriver):
    name = "fake"
    hypervisor_type = "fake"
    supports_pause = True
    supports_suspend = True
    supports_snapshot = True
    supports_console_output = True
    supports_interface_attach = True
    supports_volume_attach = True
    supports_boot_from_volume = True

    def __init__(self, host: str = "fake-host", vcpus: int = 64, memory_mb: int = 262144, disk_gb: int = 2048,
                 delay: float = 0.0, fail: frozenset[str] | set[str] = frozenset()) -> None:
        self.host = host
        self.resources = HostResources(vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb,
                                       hypervisor_type=self.hypervisor_type, hypervisor_version=1000,
                                       cpu_info={"arch": "x86_64", "model": "fake", "vendor": "onestack"})
        self.delay = delay
        self.fail = set(fail)
        self._guests: dict[str, _FakeGuest] = {}
        self._lock = threading.Lock()
        self.extended: list[tuple[str, str, int]] = []  # extend_volume calls (uuid, volume_id, bytes), for tests
        self.power_offs: list[tuple[str, float]] = []  # power_off calls (uuid, timeout), for tests

    # -- helpers -----------------------------------------------------------------------------------

    def _step(self, op: str, guest: Guest | None = None) -> None:
        if self.delay:
            time.sleep(self.delay)
        wanted = set(self.fail)
        if guest is not None:
            wanted |= {p.strip() for p in str(guest.metadata.get("fake_fail", "")).split(",") if p.strip()}
        if op in wanted:
            raise GuestDriverError(f"fake driver: {op} failed as configured")

    def _get(self, uuid: str) -> _FakeGuest:
        try:
            return self._guests[uuid]
        except KeyError:
            raise GuestNotFound(f"guest {uuid} not found on {self.host}") from None

    def _set(self, uuid: str, op: str, state: PowerState, allowed: tuple[PowerState, ...] | None = None) -> None:
        with self._lock:
            item = self._get(uuid)
        self._step(op, item.guest)
        if allowed is not None and item.state not in allowed and item.state != state:
            raise GuestDriverError(f"cannot {op} a guest that is {item.state.name.lower()}")
        item.state = state
        item.console.append(f"[{time.time():.3f}] {op}: {state.name.lower()}")

    # -- interface ---------------------------------------------------------------------------------

    def host_resources(self) -> HostResources:
        return self.resources

    def list_guests(self) -> list[str]:
        with self._lock:
            return list(self._guests)

    def spawn(self, guest: Guest, network_ready=None) -> None:  # no host devices: nothing to wait for
        self._step("spawn", guest)
        with self._lock:
            if guest.uuid in self._guests:
                return
            item = _FakeGuest(guest, interfaces={i.port_id: i for i in guest.interfaces},
                              volumes={v.volume_id: v for v in guest.volumes})
            item.console += [f"onestack fake guest {guest.hostname} booting", "cloud-init: done",
                             f"{guest.hostname} login:"]
            self._guests[guest.uuid] = item

    def destroy(self, uuid: str) -> None:
        with self._lock:
            item = self._guests.get(uuid)
        if item is not None:
            self._step("destroy", item.guest)
        with self._lock:
            self._guests.pop(uuid, None)

    def power_on(self, uuid: str) -> None:
        self._set(uuid, "power_on", PowerState.RUNNING, (PowerState.SHUTDOWN, PowerState.CRASHED))

    def power_off(self, uuid: str, timeout: float = 0) -> None:
        self._set(uuid, "power_off", PowerState.SHUTDOWN)
        self.power_offs.append((uuid, timeout))

    def reboot(self, uuid: str, hard: bool = False) -> None:
        self._set(uuid, "reboot", PowerState.RUNNING)

    def info(self, uuid: str) -> GuestInfo:
        with self._lock:
            item = self._get(uuid)
        flavor = item.guest.flavor
        return GuestInfo(power_state=item.state, vcpus=flavor.vcpus, memory_mb=flavor.memory_mb,
                         cpu_time_ns=int((time.monotonic() - item.started) * 1e9) // 100,
                         uptime_s=time.monotonic() - item.started)

    def pause(self, uuid: str) -> None:
        self._set(uuid, "pause", PowerState.PAUSED, (PowerState.RUNNING,))

    def unpause(self, uuid: str) -> None:
        self._set(uuid, "unpause", PowerState.RUNNING, (PowerState.PAUSED,))

    def suspend(self, uuid: str) -> None:
        self._set(uuid, "suspend", PowerState.SUSPENDED, (PowerState.RUNNING, PowerState.PAUSED))

    def resume(self, uuid: str) -> None:
        self._set(uuid, "resume", PowerState.RUNNING, (PowerState.SUSPENDED,))

    def snapshot(self, uuid: str, path: str) -> str:
        with self._lock:
            item = self._get(uuid)
        self._step("snapshot", item.guest)
        with open(path, "wb") as fh:
            fh.write(f"fake disk of {uuid}\n".encode())
        return "raw"

    def console_output(self, uuid: str, length: int | None = None) -> str:
        with self._lock:
            item = self._get(uuid)
        lines = item.console if length is None else item.console[-length:] if length else []
        return "\n".join(lines) + ("\n" if lines else "")

    def attach_interface(self, uuid: str, interface: Interface) -> None:
        with self._lock:
            item = self._get(uuid)
        self._step("attach_interface", item.guest)
        with self._lock:
            item.interfaces[interface.port_id] = interface

    def detach_interface(self, uuid: str, port_id: str) -> None:
        with self._lock:
            self._get(uuid).interfaces.pop(port_id, None)

    def attach_volume(self, uuid: str, attachment: VolumeAttachment) -> None:
        with self._lock:
            item = self._get(uuid)
        self._step("attach_volume", item.guest)
        with self._lock:
            item.volumes[attachment.volume_id] = attachment

    def detach_volume(self, uuid: str, volume_id: str) -> None:
        with self._lock:
            self._get(uuid).volumes.pop(volume_id, None)

    def extend_volume(self, uuid: str, volume_id: str, new_size_bytes: int) -> None:
        with self._lock:
            self._get(uuid)
            self.extended.append((uuid, volume_id, new_size_bytes))

    # -- for tests ---------------------------------------------------------------------------------

    def interfaces(self, uuid: str) -> list[str]:
        with self._lock:
            return list(self._get(uuid).interfaces)

    def volumes(self, uuid: str) -> list[str]:
        with self._lock:
            return list(self._get(uuid).volumes)
