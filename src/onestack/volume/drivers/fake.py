"""An in-memory volume driver for tests: sparse blocks in dicts, no files, no devices."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .base import GIB, Connection, SnapshotSpec, VolumeDriver, VolumeDriverError, VolumeSource, VolumeSpec

BLOCK = 65536


class _Data:
    def __init__(self, size: int, blocks: dict[int, bytes] | None = None) -> None:
        self.size = size
        self.blocks = dict(blocks or {})

    def read(self, offset: int, length: int) -> bytes:
        out = bytearray()
        end = min(offset + length, self.size)
        pos = offset
        while pos < end:
            index, within = divmod(pos, BLOCK)
            chunk = self.blocks.get(index, bytes(BLOCK))
            take = min(BLOCK - within, end - pos)
            out += chunk[within:within + take]
            pos += take
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self.size:
            raise VolumeDriverError("write beyond the end of the volume")
        pos = 0
        while pos < len(data):
            index, within = divmod(offset + pos, BLOCK)
            block = bytearray(self.blocks.get(index, bytes(BLOCK)))
            take = min(BLOCK - within, len(data) - pos)
            block[within:within + take] = data[pos:pos + take]
            self.blocks[index] = bytes(block)
            pos += take


def _import(path: Path, data: _Data) -> None:
    """Copy a (sparse) file's data regions into ``data`` block by block."""
    if not path.exists():
        raise VolumeDriverError(f"source data {path} does not exist")
    if path.stat().st_size > data.size:
        raise VolumeDriverError("the image is larger than the volume")
    with open(path, "rb") as fh:
        fd = fh.fileno()
        end = os.fstat(fd).st_size
        pos = 0
        while pos < end:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # only holes left
                break
            hole = os.lseek(fd, pos, os.SEEK_HOLE)
            fh.seek(pos)
            while pos < hole:
                chunk = fh.read(min(BLOCK, hole - pos))
                if chunk.strip(b"\0"):
                    data.write(pos, chunk)
                pos += len(chunk)


class FakeVolumeDriver(VolumeDriver):
    name = "fake"
    thin = True
    can_attach_block = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.volumes: dict[str, _Data] = {}
        self.snapshots: dict[str, _Data] = {}
        self.attached: dict[str, Connection] = {}
        self.fail_next: dict[str, Exception] = {}  # operation name -> error to raise once (tests)

    def _maybe_fail(self, op: str) -> None:
        err = self.fail_next.pop(op, None)
        if err is not None:
            raise err

    def _get(self, volume_id: str) -> _Data:
        try:
            return self.volumes[volume_id]
        except KeyError:
            raise VolumeDriverError(f"volume {volume_id} does not exist on the backend") from None

    def create_volume(self, volume: VolumeSpec, source: VolumeSource = VolumeSource()) -> None:
        self._maybe_fail("create_volume")
        with self._lock:
            if volume.id in self.volumes:
                return
            if source.kind == "empty":
                data = _Data(volume.size_bytes)
            elif source.kind in ("snapshot", "volume"):
                pool = self.snapshots if source.kind == "snapshot" else self.volumes
                if source.id not in pool:
                    raise VolumeDriverError(f"source {source.kind} {source.id} does not exist on the backend")
                src = pool[source.id]
                if src.size > volume.size_bytes:
                    raise VolumeDriverError("the source is larger than the volume")
                data = _Data(volume.size_bytes, src.blocks)
            elif source.kind == "file":
                if source.disk_format not in ("raw", "bare"):
                    raise VolumeDriverError(f"the fake driver only reads raw images, not {source.disk_format}")
                data = _Data(volume.size_bytes)
                _import(Path(source.path or ""), data)
            else:
                raise VolumeDriverError(f"unknown source kind {source.kind}")
            self.volumes[volume.id] = data

    def delete_volume(self, volume_id: str) -> None:
        with self._lock:
            self.attached.pop(volume_id, None)
            self.volumes.pop(volume_id, None)

    def volume_exists(self, volume_id: str) -> bool:
        return volume_id in self.volumes

    def volume_size(self, volume_id: str) -> int:
        return self._get(volume_id).size

    def extend_volume(self, volume: VolumeSpec) -> None:
        self._maybe_fail("extend_volume")
        data = self._get(volume.id)
        data.size = max(data.size, volume.size * GIB)

    def create_snapshot(self, snapshot: SnapshotSpec) -> None:
        self._maybe_fail("create_snapshot")
        with self._lock:
            if snapshot.id in self.snapshots:
                return
            src = self._get(snapshot.volume_id)
            self.snapshots[snapshot.id] = _Data(src.size, src.blocks)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshots.pop(snapshot_id, None)

    def snapshot_exists(self, snapshot_id: str) -> bool:
        return snapshot_id in self.snapshots

    def export_volume(self, volume_id: str, dest: Path, disk_format: str = "raw") -> None:
        data = self._get(volume_id)
        if disk_format != "raw":
            raise VolumeDriverError(f"the fake driver only exports raw, not {disk_format}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as fh:
            last = max(data.blocks, default=-1)
            fh.write(data.read(0, (last + 1) * BLOCK))
            fh.truncate(data.size)

    def attach(self, volume_id: str, kind: str = "file", readonly: bool = False) -> Connection:
        self._get(volume_id)
        if kind not in ("file", "loop"):
            raise VolumeDriverError(f"unknown attachment kind {kind}")
        if kind == "loop" and not self.can_attach_block:
            raise VolumeDriverError("the fake driver has no block devices")
        conn = self.attached.get(volume_id) or Connection("file", f"fake://{volume_id}", readonly=readonly)
        self.attached[volume_id] = conn
        return conn

    def detach(self, volume_id: str) -> None:
        self.attached.pop(volume_id, None)

    def read(self, volume_id: str, offset: int, length: int) -> bytes:
        return self._get(volume_id).read(offset, length)

    def write(self, volume_id: str, offset: int, data: bytes) -> None:
        self._get(volume_id).write(offset, data)
