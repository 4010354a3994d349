"""The guest driver interface: what a compute host agent needs from a hypervisor.

Small on purpose (compare Nova's 110-method ``ComputeDriver``).  The agent owns every decision —
states, retries, placement, networking, the database; a driver only makes one guest on this host
look like the frozen ``Guest`` it is handed, and reports what it sees.  Rules for implementers:

* Methods are synchronous and may block (the agent calls them from worker threads).  Each method is
  idempotent: ``spawn`` of a guest that already runs, ``destroy`` of one that is gone, ``power_off``
  of one that is off all succeed.  The agent may call any method again after a crash.
* Drivers receive frozen dataclasses, never ORM rows, and import only ``onestack.core`` and this
  module.  Raise ``GuestNotFound`` for unknown guests and ``GuestDriverError`` (with a message a
  user may read: it becomes the server's ``fault``) for everything else; ``Unsupported`` when the
  capability attribute says the operation is not available.
* Capabilities are class attributes; the contract suite (tests/compute/drivers/contract.py) skips
  exactly what a driver declares it cannot do.  Every driver runs that suite.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar


class PowerState(enum.IntEnum):
    """Nova's power_state values, as the API shows them (``OS-EXT-STS:power_state``)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


@dataclass(frozen=True)
class FlavorSpec:
    vcpus: int
    memory_mb: int
    root_gb: int
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSpec:
    id: str
    disk_format: str = ""  # qcow2, raw, ...; "" when unknown
    container_format: str = ""  # bare, docker, ...
    properties: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None  # a local copy of the image data when the agent fetched one


@dataclass(frozen=True)
class Interface:
    port_id: str
    mac_address: str
    network_id: str = ""
    fixed_ips: tuple[str, ...] = ()
    mtu: int = 1500
    vif_type: str = ""
    details: Mapping[str, str] = field(default_factory=dict)  # e.g. bridge/tap names from the network agent
    tag: str | None = None  # the device tag (networks[].tag, os-interface tag): the config drive's "devices"


@dataclass(frozen=True)
class VolumeAttachment:
    """A volume the guest sees as the disk ``device`` (``/dev/vda`` is the root disk of a server booted
    from a volume, ``boot_index`` 0; attached volumes get ``/dev/vdb``...).

    ``connection_info`` is how this host reaches the volume, from the block storage service (the shape
    of Cinder's connection info, produced by ``volume.drivers.base.Connection.as_dict``)::

        {"driver_volume_type": "loop" | "file",
         "path": "/…/volume-<id>.img",       # the backing file (QEMU opens it for "file")
         "device": "/dev/loop7" | None,       # the host block device ("loop" only)
         "data": {"path": …, "device_path": …, "device": …, "access_mode": "rw" | "ro"}}

    The agent asks for the kind the driver names in ``GuestDriver.volume_connection``.  ``image`` is the
    image a boot volume was made from (when known): a driver that cannot boot the volume's raw bytes
    (containers need a filesystem, the image may be a rootfs tarball) may build the root from it.
    """

    volume_id: str
    device: str  # /dev/vdb
    connection_info: Mapping[str, object] = field(default_factory=dict)
    boot_index: int | None = None
    image: ImageSpec | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Guest:
    """Everything a driver needs to build one guest."""

    uuid: str
    name: str
    hostname: str
    flavor: FlavorSpec
    image: ImageSpec | None  # None: boot from volume (the root is the volume with boot_index 0)
    interfaces: tuple[Interface, ...] = ()
    volumes: tuple[VolumeAttachment, ...] = ()
    user_data: str | None = None  # base64, as the API received it
    metadata: Mapping[str, str] = field(default_factory=dict)
    key_data: str | None = None
    config_drive: bool = False


@dataclass(frozen=True)
class GuestInfo:
    power_state: PowerState
    vcpus: int = 0
    memory_mb: int = 0
    cpu_time_ns: int = 0
    uptime_s: float = 0.0


@dataclass(frozen=True)
class HostResources:
    """What the host offers; reported to placement as VCPU/MEMORY_MB/DISK_GB inventory."""

    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str
    hypervisor_version: int = 1000
    cpu_info: Mapping[str, object] = field(default_factory=dict)


class GuestDriverError(Exception):
    """A failure the user may read (it becomes the server fault's message)."""


class GuestNotFound(GuestDriverError):
    pass


class Unsupported(GuestDriverError):
    pass


class GuestDriver(abc.ABC):
    """One hypervisor on one host."""

    name: ClassVar[str]  # the [compute] driver setting that selects it
    hypervisor_type: ClassVar[str]
    # capabilities
    supports_pause: ClassVar[bool] = False
    supports_suspend: ClassVar[bool] = False
    supports_snapshot: ClassVar[bool] = False
    supports_console_output: ClassVar[bool] = False
    supports_interface_attach: ClassVar[bool] = False
    supports_volume_attach: ClassVar[bool] = False
    supports_boot_from_volume: ClassVar[bool] = False
    volume_connection: ClassVar[str] = "file"  # what VolumeAttachment.connection_info holds: "file" | "loop"

    # -- host ------------------------------------------------------------------------------------

    @abc.abstractmethod
    def host_resources(self) -> HostResources: ...

    @abc.abstractmethod
    def list_guests(self) -> list[str]:
        """uuids of every guest this driver knows on its host (the agent cleans up orphans)."""

    # -- lifecycle -------------------------------------------------------------------------------

    @abc.abstractmethod
    def spawn(self, guest: Guest, network_ready: Callable[[], None] | None = None) -> None:
        """Create and start the guest; return once it runs.

        ``network_ready`` (when given) is called once the guest's host-side network devices (taps, veth
        ends named ``details["devname"]``) exist and before the guest runs; it returns when the network
        has plugged them (Nova's wait for network-vif-plugged), so the guest's first DHCP request is
        answered. It may raise ``GuestDriverError`` (the spawn then fails and cleans up)."""

    @abc.abstractmethod
    def destroy(self, uuid: str) -> None:
        """Stop and remove the guest and its local disks; succeed if it does not exist."""

    @abc.abstractmethod
    def power_on(self, uuid: str) -> None: ...

    @abc.abstractmethod
    def power_off(self, uuid: str, timeout: float = 0) -> None:
        """Stop the guest: clean shutdown for up to ``timeout`` seconds, then hard."""

    @abc.abstractmethod
    def reboot(self, uuid: str, hard: bool = False) -> None: ...

    @abc.abstractmethod
    def info(self, uuid: str) -> GuestInfo:
        """What the hypervisor sees now; ``GuestNotFound`` when the guest does not exist."""

    # -- optional (see the capability attributes) --------------------------------------------------

    def pause(self, uuid: str) -> None:
        raise Unsupported(f"{self.name} cannot pause guests")

    def unpause(self, uuid: str) -> None:
        raise Unsupported(f"{self.name} cannot pause guests")

    def suspend(self, uuid: str) -> None:
        raise Unsupported(f"{self.name} cannot suspend guests")

    def resume(self, uuid: str) -> None:
        raise Unsupported(f"{self.name} cannot suspend guests")

    def snapshot(self, uuid: str, path: str) -> str:
        """Write the guest's root disk to ``path``; return its disk format (qcow2, raw, ...)."""
        raise Unsupported(f"{self.name} cannot snapshot guests")

    def console_output(self, uuid: str, length: int | None = None) -> str:
        """The last ``length`` lines of the serial console (all when None)."""
        raise Unsupported(f"{self.name} has no console log")

    def attach_interface(self, uuid: str, interface: Interface) -> None:
        raise Unsupported(f"{self.name} cannot hot-plug interfaces")

    def detach_interface(self, uuid: str, port_id: str) -> None:
        raise Unsupported(f"{self.name} cannot hot-plug interfaces")

    def attach_volume(self, uuid: str, attachment: VolumeAttachment) -> None:
        """Hot-plug the volume as ``attachment.device``; on a stopped guest, record it for the next start.
        Idempotent; the guest keeps it across power off/on and reboots (the agent passes every attached
        volume again in ``Guest.volumes`` when it re-creates a guest)."""
        raise Unsupported(f"{self.name} cannot attach volumes")

    def detach_volume(self, uuid: str, volume_id: str) -> None:
        """Unplug the volume (the guest loses the device, as when a disk is pulled); idempotent.  The
        host connection belongs to the block storage service, which releases it afterwards."""
        raise Unsupported(f"{self.name} cannot attach volumes")

    def extend_volume(self, uuid: str, volume_id: str, new_size_bytes: int) -> None:
        """The attached volume grew to ``new_size_bytes``: make the guest see the new capacity.  The
        default does nothing, for drivers whose attachment already shows it (a loop device the block
        storage service re-reads with ``losetup -c``)."""
        return None
