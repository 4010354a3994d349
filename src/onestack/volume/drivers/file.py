"""Volumes as sparse raw files under ``<data_dir>/volumes``, attached as loop devices or by path.

- create: a sparse file (thin); from a snapshot/volume: a reflink copy where the filesystem can
  (``cp --reflink=auto``), else a sparse full copy; from an image: ``qemu-img convert`` to raw.
- snapshots: the same copy-on-write-or-sparse-copy, ``snapshot-<id>.img`` beside the volumes.
- extend: grow the file; an attached loop device is told with ``losetup -c`` (growing the
  filesystem inside is the guest's business).
- attach: ``kind="file"`` hands out the path (QEMU opens it), ``kind="loop"`` a ``/dev/loopN``.

Every step writes to a temporary name first and renames, so a crash never leaves a half-made
volume under its real name; failures remove their temporaries.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from .base import Connection, SnapshotSpec, VolumeDriver, VolumeDriverError, VolumeSource, VolumeSpec


def _run(*cmd: str, timeout: float = 600) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise VolumeDriverError(f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise VolumeDriverError(f"{cmd[0]} timed out") from None
    if proc.returncode != 0:
        raise VolumeDriverError(f"{' '.join(cmd[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


class FileVolumeDriver(VolumeDriver):
    name = "file"
    thin = True
    can_attach_block = True
    image_formats = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")
    export_formats = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_parts()

    def _remove_stale_parts(self) -> None:
        """Temporaries of a process that died mid-copy (``.<name>.<pid>.part``) are removed at start."""
        for part in self.root.glob(".*.part"):
            try:
                pid = int(part.name.rsplit(".", 2)[-2])
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError):
                part.unlink(missing_ok=True)
            except PermissionError:
                pass

    # -- paths -----------------------------------------------------------------------------------

    def volume_path(self, volume_id: str) -> Path:
        return self.root / f"volume-{volume_id}.img"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.root / f"snapshot-{snapshot_id}.img"

    def _tmp(self, final: Path) -> Path:
        return final.with_name(f".{final.name}.{os.getpid()}.part")

    @contextlib.contextmanager
    def _staged(self, final: Path):
        tmp = self._tmp(final)
        tmp.unlink(missing_ok=True)
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _copy(src: Path, dst: Path) -> None:
        """Copy-on-write where the filesystem allows, else a sparse full copy."""
        _run("cp", "--reflink=auto", "--sparse=always", str(src), str(dst))

    # -- volumes ---------------------------------------------------------------------------------

    def create_volume(self, volume: VolumeSpec, source: VolumeSource = VolumeSource()) -> None:
        final = self.volume_path(volume.id)
        if final.exists():
            return
        with self._staged(final) as tmp:
            if source.kind == "empty":
                with open(tmp, "wb") as fh:
                    fh.truncate(volume.size_bytes)
            elif source.kind in ("snapshot", "volume"):
                src = self.snapshot_path(source.id) if source.kind == "snapshot" else self.volume_path(source.id)
                if not src.exists():
                    raise VolumeDriverError(f"source {source.kind} {source.id} does not exist on the backend")
                if src.stat().st_size > volume.size_bytes:
                    raise VolumeDriverError("the source is larger than the volume")
                self._copy(src, tmp)
                os.truncate(tmp, volume.size_bytes)
            elif source.kind == "file":
                self._from_file(Path(source.path or ""), source.disk_format, tmp, volume.size_bytes)
            else:
                raise VolumeDriverError(f"unknown source kind {source.kind}")

    def _from_file(self, src: Path, disk_format: str, tmp: Path, size: int) -> None:
        if not src.exists():
            raise VolumeDriverError(f"source data {src} does not exist")
        fmt = (disk_format or "raw").lower()
        if fmt in ("raw", "bare", "iso"):
            if src.stat().st_size > size:
                raise VolumeDriverError(f"the image ({src.stat().st_size} bytes) is larger than the volume")
            self._copy(src, tmp)
        else:
            info = json.loads(_run("qemu-img", "info", "--output=json", "-f", fmt, str(src)))
            if int(info.get("virtual-size", 0)) > size:
                raise VolumeDriverError(f"the image's virtual size ({info['virtual-size']} bytes) is larger than "
                                        "the volume")
            _run("qemu-img", "convert", "-q", "-f", fmt, "-O", "raw", "-S", "4k", str(src), str(tmp))
        os.truncate(tmp, size)

    def delete_volume(self, volume_id: str) -> None:
        self.detach(volume_id)
        self.volume_path(volume_id).unlink(missing_ok=True)

    def volume_exists(self, volume_id: str) -> bool:
        return self.volume_path(volume_id).exists()

    def volume_size(self, volume_id: str) -> int:
        try:
            return self.volume_path(volume_id).stat().st_size
        except FileNotFoundError:
            raise VolumeDriverError(f"volume {volume_id} does not exist on the backend") from None

    def extend_volume(self, volume: VolumeSpec) -> None:
        path = self.volume_path(volume.id)
        if not path.exists():
            raise VolumeDriverError(f"volume {volume.id} does not exist on the backend")
        if path.stat().st_size < volume.size_bytes:
            os.truncate(path, volume.size_bytes)
        for device in self._loops(path):
            _run("losetup", "-c", device)

    # -- snapshots -------------------------------------------------------------------------------

    def create_snapshot(self, snapshot: SnapshotSpec) -> None:
        final = self.snapshot_path(snapshot.id)
        if final.exists():
            return
        src = self.volume_path(snapshot.volume_id)
        if not src.exists():
            raise VolumeDriverError(f"volume {snapshot.volume_id} does not exist on the backend")
        with self._staged(final) as tmp:
            self._copy(src, tmp)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshot_path(snapshot_id).unlink(missing_ok=True)

    def snapshot_exists(self, snapshot_id: str) -> bool:
        return self.snapshot_path(snapshot_id).exists()

    # -- data out --------------------------------------------------------------------------------

    def export_volume(self, volume_id: str, dest: Path, disk_format: str = "raw") -> None:
        src = self.volume_path(volume_id)
        if not src.exists():
            raise VolumeDriverError(f"volume {volume_id} does not exist on the backend")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            if disk_format == "raw":
                self._copy(src, tmp)
            else:
                _run("qemu-img", "convert", "-q", "-f", "raw", "-O", disk_format, str(src), str(tmp))
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    # -- attachment ------------------------------------------------------------------------------

    @staticmethod
    def _loops(path: Path) -> list[str]:
        if not path.exists() or shutil.which("losetup") is None:
            return []
        out = _run("losetup", "-j", str(path))
        return [line.split(":", 1)[0] for line in out.splitlines() if line.strip()]

    def attach(self, volume_id: str, kind: str = "file", readonly: bool = False) -> Connection:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise VolumeDriverError(f"volume {volume_id} does not exist on the backend")
        if kind == "file":
            return Connection("file", str(path), readonly=readonly)
        if kind != "loop":
            raise VolumeDriverError(f"unknown attachment kind {kind}")
        existing = self._loops(path)
        if existing:
            return Connection("loop", str(path), existing[0], readonly)
        args = ["losetup", "-f", "--show", "--direct-io=off"]
        if readonly:
            args.append("-r")
        device = _run(*args, str(path)).strip()
        return Connection("loop", str(path), device, readonly)

    def detach(self, volume_id: str) -> None:
        for device in self._loops(self.volume_path(volume_id)):
            _run("losetup", "-d", device)

    # -- raw access (inspection, tests) ------------------------------------------------------------

    def read(self, volume_id: str, offset: int, length: int) -> bytes:
        with open(self.volume_path(volume_id), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    def write(self, volume_id: str, offset: int, data: bytes) -> None:
        path = self.volume_path(volume_id)
        if offset + len(data) > path.stat().st_size:
            raise VolumeDriverError("write beyond the end of the volume")
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


