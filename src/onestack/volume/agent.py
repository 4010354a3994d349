"""The volume agent: reconcilers that converge volumes, snapshots and backups through a driver.

Each reconcile re-reads the row, does one idempotent driver step outside any transaction, then
writes the outcome only if the row's ``revision`` did not move meanwhile (a newer desired state,
e.g. a delete during a create, gets its own pass).  Driver failures end in the upstream error
status with a ``fault`` the user can read; restarts resume from the rows (the periodic resync).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import delete, select

from onestack.compute.client import VOLUME_EXTENDED
from onestack.core.bus import Bus
from onestack.core.reconcile import Agent
from onestack.core.uow import UnitOfWorkFactory

from . import states as st
from .drivers.base import SnapshotSpec, VolumeDriver, VolumeDriverError, VolumeSource, VolumeSpec
from .model import Attachment, Backup, Snapshot, Volume
from .service.common import BACKUP_TOPIC, SNAPSHOT_TOPIC, VOLUME_TOPIC
from .service.messages import record

log = logging.getLogger(__name__)


def _fault(exc: Exception) -> dict:
    return {"message": str(exc) or type(exc).__name__, "code": 500}


class _Base:
    topic = ""
    model: type = Volume

    def __init__(self, uow: UnitOfWorkFactory, driver: VolumeDriver) -> None:
        self.uow = uow
        self.driver = driver

    def pending_keys(self) -> Iterable[str]:
        with self.uow() as uow:
            return list(uow.session.scalars(select(self.model.id).where(
                self.model.revision > self.model.observed_revision)))

    def _read(self, key: str):
        with self.uow() as uow:
            row = uow.session.get(self.model, key)
            if row is not None:
                uow.session.expunge(row)
            return row

    def _commit(self, key: str, revision: int, apply) -> bool:
        """Run ``apply(uow, row)`` if the row is still at ``revision``; False when it moved on."""
        with self.uow(write=True) as uow:
            row = uow.session.get(self.model, key)
            if row is None or row.revision != revision:
                return False
            apply(uow, row)
            row.observed_revision = revision
            return True


class VolumeReconciler(_Base):
    topic = VOLUME_TOPIC
    model = Volume

    def __init__(self, uow: UnitOfWorkFactory, driver: VolumeDriver, images=None, backup_root: Path | None = None,
                 work_dir: Path | None = None, host: str = "localhost") -> None:
        super().__init__(uow, driver)
        # Cinder's volume host, "host@backend#pool"
        self.host = f"{host}@{driver.name}#{driver.name}"
        self.images = images
        self.backup_root = backup_root
        self.work_dir = work_dir

    def reconcile(self, key: str) -> None:
        row = self._read(key)
        if row is None or row.observed_revision >= row.revision:
            return
        task = row.task or {}
        op = task.get("op")
        handler = {"create": self._create, "delete": self._delete, "extend": self._extend,
                   "upload": self._upload, "restore": self._restore, "revert": self._revert}.get(op)
        if handler is None:
            self._commit(key, row.revision, lambda uow, r: None)
            return
        handler(row, task)

    # -- create --------------------------------------------------------------------------------------

    def _create(self, row: Volume, task: dict) -> None:
        source = task.get("source") or {"type": "empty"}
        spec = VolumeSpec(row.id, row.size)
        tmp_dir = None
        try:
            kind = source.get("type", "empty")
            if kind == "empty":
                self.driver.create_volume(spec)
            elif kind in ("snapshot", "volume"):
                self.driver.create_volume(spec, VolumeSource(kind, source["id"]))
            elif kind == "image":
                path, tmp_dir = self._image_file(source["id"])
                self.driver.create_volume(spec, VolumeSource("file", path=str(path),
                                                             disk_format=source.get("disk_format") or "raw"))
            elif kind == "backup":
                self.driver.create_volume(spec, VolumeSource("file", path=str(self._backup_file(source["id"]))))
            else:
                raise VolumeDriverError(f"unknown volume source {kind}")
        except VolumeDriverError as exc:
            error = exc
            log.warning("volume %s: create failed: %s", row.id, exc)

            def failed(uow, r):
                r.status = st.ERROR
                r.fault = _fault(error)
                r.task = None
                _finish_restore(uow, source, st.AVAILABLE)
                action = "copy image to volume" if source.get("type") == "image" else "create volume"
                record(uow, r.project_id, "VOLUME", r.id, action, str(error))

            self._commit(row.id, row.revision, failed)
            return
        finally:
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)

        def done(uow, r):
            r.status = st.AVAILABLE
            r.host = self.host
            r.fault = None
            r.task = None
            _finish_restore(uow, source, st.AVAILABLE)

        if not self._commit(row.id, row.revision, done):
            latest = self._read(row.id)
            if latest is None:  # deleted meanwhile: no row owns the data any more
                self.driver.delete_volume(row.id)

    def _restore(self, row: Volume, task: dict) -> None:
        """Replace an existing volume's data with a backup's (the volume is detached: restoring-backup)."""
        source = task.get("source") or {}
        try:
            path = self._backup_file(source.get("id", ""))
            self.driver.delete_volume(row.id)
            self.driver.create_volume(VolumeSpec(row.id, row.size), VolumeSource("file", path=str(path)))
        except VolumeDriverError as exc:
            error = exc
            def failed(uow, r):
                _set(r, status=st.ERROR_RESTORING, fault=_fault(error), task=None)
                _finish_restore(uow, source, st.AVAILABLE)
                record(uow, r.project_id, "VOLUME", r.id, "backup restore", str(error))

            self._commit(row.id, row.revision, failed)
            return

        def done(uow, r):
            _set(r, status=st.AVAILABLE, fault=None, task=None)
            _finish_restore(uow, source, st.AVAILABLE)

        self._commit(row.id, row.revision, done)

    def _revert(self, row: Volume, task: dict) -> None:
        """Replace the volume's data with its latest snapshot's (3.40 revert)."""
        snapshot_id = task.get("snapshot_id", "")
        try:
            if not self.driver.snapshot_exists(snapshot_id):
                raise VolumeDriverError(f"snapshot {snapshot_id} does not exist on the backend")
            self.driver.delete_volume(row.id)
            self.driver.create_volume(VolumeSpec(row.id, row.size), VolumeSource("snapshot", snapshot_id))
            error = None
        except VolumeDriverError as exc:
            error = exc

        def done(uow, r):
            snap = uow.session.get(Snapshot, snapshot_id)
            if snap is not None and snap.status == "restoring":
                snap.status = st.AVAILABLE
            _set(r, status=st.ERROR if error else st.AVAILABLE, fault=_fault(error) if error else None, task=None)
            if error:
                record(uow, r.project_id, "VOLUME", r.id, "revert volume", str(error))

        self._commit(row.id, row.revision, done)

    def _image_file(self, image_id: str) -> tuple[Path, Path | None]:
        if self.images is None:
            raise VolumeDriverError("the image service is not available")
        path = self.images.image_data_path(image_id) if hasattr(self.images, "image_data_path") else None
        if path is not None and Path(path).exists():
            return Path(path), None
        tmp_dir = Path(tempfile.mkdtemp(prefix="image-", dir=self.work_dir))
        target = tmp_dir / "data"
        try:
            with open(target, "wb") as fh:
                for chunk in self.images.open_image_data(image_id):
                    fh.write(chunk)
        except VolumeDriverError:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        except Exception as exc:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise VolumeDriverError(f"could not read the data of image {image_id}: {exc}") from exc
        return target, tmp_dir

    def _backup_file(self, backup_id: str) -> Path:
        if self.backup_root is None:
            raise VolumeDriverError("no backup store is configured")
        path = self.backup_root / backup_id / "volume.img"
        if not path.exists():
            raise VolumeDriverError(f"backup {backup_id} has no data in the backup store")
        return path

    # -- delete / extend / upload ------------------------------------------------------------------------

    def _delete(self, row: Volume, task: dict) -> None:
        try:
            self.driver.delete_volume(row.id)
        except VolumeDriverError as exc:
            error = exc
            def failed(uow, r):
                r.status = st.ERROR_DELETING
                r.fault = _fault(error)
                r.task = None
                record(uow, r.project_id, "VOLUME", r.id, "delete volume", str(error))

            self._commit(row.id, row.revision, failed)
            return

        def done(uow, r):
            uow.session.execute(delete(Attachment).where(Attachment.volume_id == r.id))
            uow.session.delete(r)

        self._commit(row.id, row.revision, done)

    def _extend(self, row: Volume, task: dict) -> None:
        new_size = int(task["new_size"])
        previous = task.get("previous_status") or st.AVAILABLE
        try:
            self.driver.extend_volume(VolumeSpec(row.id, new_size))
        except VolumeDriverError as exc:
            error = exc
            def failed(uow, r):
                r.status = st.ERROR_EXTENDING
                r.fault = _fault(error)
                r.task = None
                record(uow, r.project_id, "VOLUME", r.id, "extend volume", str(error))

            self._commit(row.id, row.revision, failed)
            return

        def done(uow, r):
            r.size = new_size
            r.status = previous
            r.task = None
            r.fault = None
            if previous == st.IN_USE:  # the servers' hypervisors learn the new size (Nova's volume-extended)
                for server_id in uow.session.scalars(select(Attachment.instance_uuid).where(
                        Attachment.volume_id == r.id, Attachment.instance_uuid.is_not(None))):
                    uow.emit(VOLUME_EXTENDED, f"{server_id}/{r.id}/{new_size}")

        self._commit(row.id, row.revision, done)

    def _upload(self, row: Volume, task: dict) -> None:
        previous = task.get("previous_status") or st.AVAILABLE
        image_id = task["image_id"]
        tmp_dir = Path(tempfile.mkdtemp(prefix="upload-", dir=self.work_dir))
        error: Exception | None = None
        try:
            if self.images is None:
                raise VolumeDriverError("the image service is not available")
            target = tmp_dir / "data"
            self.driver.export_volume(row.id, target, task.get("disk_format") or "raw")
            self.images.upload_image_data(image_id, _chunks(target))
        except Exception as exc:  # the image service's own errors end the upload too
            log.warning("volume %s: upload to image %s failed: %s", row.id, image_id, exc)
            error = exc
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)

        def done(uow, r):
            r.status = previous
            r.task = None
            r.fault = _fault(error) if error else None
            if error:
                record(uow, r.project_id, "VOLUME", r.id, "copy volume to image", str(error))

        self._commit(row.id, row.revision, done)


def _chunks(path: Path, size: int = 1 << 20):
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _finish_restore(uow, source: dict, status: str) -> None:
    if source.get("type") == "backup":
        backup = uow.session.get(Backup, source["id"])
        if backup is not None and backup.status == st.RESTORING:
            backup.status = status


class SnapshotReconciler(_Base):
    topic = SNAPSHOT_TOPIC
    model = Snapshot

    def reconcile(self, key: str) -> None:
        row = self._read(key)
        if row is None or row.observed_revision >= row.revision:
            return
        if row.status == st.DELETING:
            try:
                self.driver.delete_snapshot(row.id)
            except VolumeDriverError as exc:
                error = exc
                self._commit(key, row.revision, lambda uow, r: _failed(uow, r, st.ERROR_DELETING, error,
                                                                       "delete snapshot"))
                return
            self._commit(key, row.revision, lambda uow, r: uow.session.delete(r))
            return
        if row.status != st.CREATING:
            self._commit(key, row.revision, lambda uow, r: None)
            return
        try:
            self.driver.create_snapshot(SnapshotSpec(row.id, row.volume_id, row.size))
        except VolumeDriverError as exc:
            error = exc
            self._commit(key, row.revision, lambda uow, r: _failed(uow, r, st.ERROR, error, "create snapshot"))
            return
        if not self._commit(key, row.revision, lambda uow, r: _set(r, status=st.AVAILABLE, progress="100%",
                                                                   fault=None)) and self._read(key) is None:
            self.driver.delete_snapshot(row.id)


def _failed(uow, row: Snapshot, status: str, error: Exception, action: str) -> None:
    _set(row, status=status, fault=_fault(error))
    record(uow, row.project_id, "VOLUME_SNAPSHOT", row.id, action, str(error))


def _set(row, **values) -> None:
    for name, value in values.items():
        setattr(row, name, value)


class BackupReconciler(_Base):
    """Backups are full sparse copies in a filesystem store: ``<backup_root>/<backup_id>/volume.img``."""

    topic = BACKUP_TOPIC
    model = Backup

    def __init__(self, uow: UnitOfWorkFactory, driver: VolumeDriver, backup_root: Path) -> None:
        super().__init__(uow, driver)
        self.root = Path(backup_root)

    def reconcile(self, key: str) -> None:
        row = self._read(key)
        if row is None or row.observed_revision >= row.revision:
            return
        task = row.task or {}
        if task.get("op") == "delete" or row.status == st.DELETING:
            shutil.rmtree(self.root / row.id, ignore_errors=True)
            self._commit(key, row.revision, lambda uow, r: uow.session.delete(r))
            return
        if task.get("op") != "create":
            self._commit(key, row.revision, lambda uow, r: None)
            return
        previous = task.get("previous_status") or st.AVAILABLE
        try:
            self.driver.export_volume(row.volume_id, self.root / row.id / "volume.img", "raw")
        except VolumeDriverError as exc:
            error = exc
            shutil.rmtree(self.root / row.id, ignore_errors=True)

            def failed(uow, r):
                _set(r, status=st.ERROR, fail_reason=str(error), fault=_fault(error), task=None)
                _restore_volume_status(uow, r.volume_id, previous)
                record(uow, r.project_id, "VOLUME_BACKUP", r.id, "backup create", str(error))

            self._commit(key, row.revision, failed)
            return

        def done(uow, r):
            _set(r, status=st.AVAILABLE, object_count=1, task=None, fault=None)
            _restore_volume_status(uow, r.volume_id, previous)

        if not self._commit(key, row.revision, done) and self._read(key) is None:
            shutil.rmtree(self.root / row.id, ignore_errors=True)


def _restore_volume_status(uow, volume_id: str, previous: str) -> None:
    vol = uow.session.get(Volume, volume_id)
    if vol is not None and vol.status == st.BACKING_UP:
        vol.status = previous


def build_agent(uow: UnitOfWorkFactory, bus: Bus, driver: VolumeDriver, backup_root: Path, work_dir: Path,
                images=None, workers: int = 4, host: str = "localhost") -> Agent:
    backup_root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work_dir, ignore_errors=True)  # scratch space of a previous run (image downloads, uploads)
    work_dir.mkdir(parents=True, exist_ok=True)
    return Agent("volume", bus, [
        VolumeReconciler(uow, driver, images, backup_root, work_dir, host),
        SnapshotReconciler(uow, driver),
        BackupReconciler(uow, driver, backup_root),
    ], workers=workers)
