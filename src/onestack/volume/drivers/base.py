"""The volume driver interface: a small set of idempotent operations on volume and snapshot data.

Drivers receive frozen dataclasses, never ORM rows.  Every operation is idempotent (the agent may
repeat a step after a crash).  Capabilities are class attributes; the contract suite
(``tests/volume/drivers/contract.py``) skips only what a driver declares it cannot do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

GIB = 1024 ** 3


class VolumeDriverError(Exception):
    """A permanent failure: the agent records it as the resource's fault and sets an error status."""


@dataclass(frozen=True)
class VolumeSpec:
    id: str
    size: int  # GiB

    @property
    def size_bytes(self) -> int:
        return self.size * GIB


@dataclass(frozen=True)
class SnapshotSpec:
    id: str
    volume_id: str
    size: int  # GiB


@dataclass(frozen=True)
class VolumeSource:
    """Where a new volume's data comes from: nothing, a snapshot, a volume, or a local file."""

    kind: str = "empty"  # empty | snapshot | volume | file
    id: str | None = None  # snapshot or volume id
    path: str | None = None  # for "file": image data or a backup
    disk_format: str = "raw"  # for "file": raw | qcow2 | ...


@dataclass(frozen=True)
class Connection:
    """How a host reaches an attached volume."""

    driver_volume_type: str  # "file" (a path QEMU opens) | "loop" (a block device node)
    path: str
    device: str | None = None
    readonly: bool = False

    def as_dict(self) -> dict:
        data = {"path": self.path, "device_path": self.device or self.path, "access_mode": "ro" if self.readonly
                else "rw"}
        if self.device:
            data["device"] = self.device
        # the Cinder shape ("data") plus the two things a host uses at the top level
        return {"driver_volume_type": self.driver_volume_type, "path": self.path, "device": self.device,
                "data": data}


class VolumeDriver(ABC):
    name: ClassVar[str]
    thin: ClassVar[bool] = False  # volumes take space only where written
    can_attach_block: ClassVar[bool] = False  # attach(kind="loop") yields a block device
    image_formats: ClassVar[tuple[str, ...]] = ("raw",)  # disk formats create_volume reads from a file
    export_formats: ClassVar[tuple[str, ...]] = ("raw",)  # disk formats export_volume writes

    @abstractmethod
    def create_volume(self, volume: VolumeSpec, source: VolumeSource = VolumeSource()) -> None:
        """Make the volume's data (empty, or a copy of the source grown to ``volume.size``)."""

    @abstractmethod
    def delete_volume(self, volume_id: str) -> None:
        """Remove the volume's data (and any host attachment); absent is fine."""

    @abstractmethod
    def volume_exists(self, volume_id: str) -> bool: ...

    @abstractmethod
    def volume_size(self, volume_id: str) -> int:
        """Size in bytes as the backend holds it."""

    @abstractmethod
    def extend_volume(self, volume: VolumeSpec) -> None:
        """Grow to ``volume.size``; an attached block device sees the new size."""

    @abstractmethod
    def create_snapshot(self, snapshot: SnapshotSpec) -> None:
        """A point-in-time copy of the volume's data that later writes to the volume do not change."""

    @abstractmethod
    def delete_snapshot(self, snapshot_id: str) -> None: ...

    @abstractmethod
    def snapshot_exists(self, snapshot_id: str) -> bool: ...

    @abstractmethod
    def export_volume(self, volume_id: str, dest: Path, disk_format: str = "raw") -> None:
        """Write the volume's data to ``dest`` (an image upload, a backup)."""

    @abstractmethod
    def attach(self, volume_id: str, kind: str = "file", readonly: bool = False) -> Connection:
        """Make the volume reachable on this host; attaching twice returns the same connection."""

    @abstractmethod
    def detach(self, volume_id: str) -> None:
        """Undo ``attach``; detaching a volume that is not attached is fine."""

    @abstractmethod
    def read(self, volume_id: str, offset: int, length: int) -> bytes: ...

    @abstractmethod
    def write(self, volume_id: str, offset: int, data: bytes) -> None: ...
