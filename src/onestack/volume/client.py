"""The block storage service's in-process facade: the composition root, the API handlers
(``req.deps``) and other services (compute) use it.

For compute (``os-volume_attachments``, boot from volume)::

    volumes = clients["block-storage"]
    vol = volumes.create_volume_for_boot(ctx, size=1, image_id=IMAGE)   # or snapshot_id= / volume_id=
    volumes.wait_for_status(vol["id"], "available")                     # polls; raises on error
    attachment_id = volumes.reserve(ctx, vol["id"], server_id)           # volume -> reserved
    info = volumes.attach(vol["id"], server_id, host, "/dev/vdb", kind="loop")   # attaching -> in-use
    #  -> {"driver_volume_type": "loop", "device": "/dev/loop7", "path": ".../volume-<id>.img",
    #      "data": {"device": ..., "path": ..., "device_path": ..., "access_mode": "rw"}}
    #     (kind="file" -> {"driver_volume_type": "file", "path": ..., "device": None, ...} for QEMU)
    #  or, when the guest must be plugged between connect and complete (compute's agent):
    info = volumes.connect(vol["id"], server_id, host, "/dev/vdb", kind="loop")  # -> attaching
    volumes.complete(attachment_id)                                      # -> in-use
    volumes.begin_detaching(vol["id"])                                   # in-use -> detaching
    volumes.detach(vol["id"], server_id)                                 # loop device released, volume available
    volumes.get_volume(ctx, vol["id"])                                   # the Cinder volume document (3.0 shape)
    volumes.delete_volume(ctx, vol["id"])                                # delete_on_termination

``attach`` runs on the host that reaches the data (all-in-one: this process); it uses the driver,
which is why it lives here and not in the API.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from pathlib import Path

from sqlalchemy import select

from onestack.core.config import Settings
from onestack.core.context import RequestContext
from onestack.core.errors import ApiError, Conflict
from onestack.core.microversion import Version
from onestack.core.uow import UnitOfWorkFactory

from . import states as st
from .drivers.base import VolumeDriver
from .model import VolumeType
from .service import attachments as att_svc
from .service import quotas as quota_svc
from .service import types as types_svc
from .service import volumes as vol_svc
from .service.attachments import attachments_for
from .service.common import Caller, ensure_lock_rows
from .views import volumes as volume_view

SERVICE_TYPE = "block-storage"


def default_driver_name(settings: Settings) -> str:
    return settings.volume.driver or ("file" if os.geteuid() == 0 else "fake")


def make_driver(settings: Settings) -> VolumeDriver:
    """The explicit table of drivers (no loading from strings)."""
    name = default_driver_name(settings)
    if name == "file":
        from .drivers.file import FileVolumeDriver

        return FileVolumeDriver(settings.volume.volumes_dir or settings.data_path / "volumes")
    if name == "fake":
        from .drivers.fake import FakeVolumeDriver

        return FakeVolumeDriver()
    raise ValueError(f"unknown volume driver {name!r} (known: file, fake)")


class VolumeClient:
    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, identity=None, images=None,
                 driver: VolumeDriver | None = None) -> None:
        self.settings = settings
        self.uow = uow
        self.identity = identity
        self.images = images
        self.driver = driver
        self.zone = settings.volume.storage_availability_zone
        self.host = settings.volume.host or socket.gethostname()
        self.started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.backup_root = Path(settings.volume.backup_dir or settings.data_path / "backups")

    # -- used by handlers ------------------------------------------------------------------------------

    def limits(self, resource: str, project_id: str) -> int | None:
        if self.identity is None or not project_id:
            return None
        return self.identity.effective_limit(SERVICE_TYPE, resource, project_id)

    def services(self) -> list[dict]:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        backend = getattr(self.driver, "name", "file")
        return [
            {"binary": "cinder-scheduler", "host": self.host, "up": True, "updated_at": now},
            {"binary": "cinder-volume", "host": f"{self.host}@{backend}", "up": self.driver is not None,
             "updated_at": now},
            {"binary": "cinder-backup", "host": self.host, "up": self.driver is not None, "updated_at": now},
        ]

    def bootstrap(self) -> None:
        with self.uow(write=True) as uow:
            types_svc.ensure_default_type(uow)
            ensure_lock_rows(uow)
        if self.identity is not None:
            self.identity.ensure_registered_limits(SERVICE_TYPE, {k: v for k, v in quota_svc.DEFAULTS.items()
                                                                  if v >= 0})

    # -- for compute -------------------------------------------------------------------------------------

    def _caller(self, ctx: RequestContext | None) -> Caller:
        if ctx is None:
            return Caller(RequestContext(), True)
        return Caller(ctx, ctx.is_admin)

    def _doc(self, uow, row) -> dict:
        types = {t.id: t.name for t in uow.session.scalars(select(VolumeType))}
        base = f"{self.settings.server.base_url}/volume/v3"
        return volume_view.detail(row, base, Version(3, 0), attachments_for(uow, [row.id])[row.id],
                                  types.get(row.volume_type_id), True)

    def get_volume(self, ctx: RequestContext | None, volume_id: str) -> dict:
        """The volume document; raises NotFound (404) when ``ctx`` cannot see it."""
        with self.uow() as uow:
            return self._doc(uow, vol_svc.get_volume(uow, volume_id, self._caller(ctx)))

    def create_volume_for_boot(self, ctx: RequestContext, size: int | None, image_id: str | None = None,
                               snapshot_id: str | None = None, volume_id: str | None = None,
                               name: str | None = None, volume_type: str | None = None,
                               availability_zone: str | None = None) -> dict:
        image = None
        if image_id:
            doc = self.images.get_image(ctx, image_id) if self.images is not None else None
            if doc is None:
                from onestack.core.errors import BadRequest

                raise BadRequest(f"Invalid image identifier or unable to access requested image: {image_id}")
            image = vol_svc.ImageInfo(id=image_id, size=doc.get("size"), min_disk=doc.get("min_disk") or 0,
                                      disk_format=doc.get("disk_format"),
                                      container_format=doc.get("container_format"),
                                      properties={"name": doc.get("name"), "checksum": doc.get("checksum")})
        cmd = vol_svc.CreateVolume(size=size, name=name, image_id=image_id, snapshot_id=snapshot_id,
                                   source_volid=volume_id, volume_type=volume_type,
                                   availability_zone=availability_zone)
        with self.uow(write=True) as uow:
            row = vol_svc.create_volume(uow, self._caller(ctx), cmd, self.limits, self.zone, image)
            return self._doc(uow, row)

    def wait_for_status(self, volume_id: str, status: str = st.AVAILABLE, timeout: float = 300.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.get_volume(None, volume_id)
            if doc["status"] == status:
                return doc
            if doc["status"].startswith("error"):
                raise Conflict(f"Volume {volume_id} went to status {doc['status']}.")
            if time.monotonic() > deadline:
                raise Conflict(f"Volume {volume_id} did not become {status} within {timeout:.0f}s.")
            time.sleep(0.02)

    def reserve(self, ctx: RequestContext | None, volume_id: str, server_id: str) -> str:
        """Reserve the volume for ``server_id`` (409-style 400 if it cannot be attached); the attachment id."""
        with self.uow(write=True) as uow:
            att, _ = att_svc.create_attachment(uow, self._caller(ctx), volume_id, server_id, None)
            return att.id

    def attach(self, volume_id: str, server_id: str, host: str | None, mountpoint: str | None,
               kind: str = "loop", mode: str = "rw") -> dict:
        """Connect the volume on this host and record the attachment; returns the connection info."""
        if self.driver is None:
            raise ApiError("No volume backend runs in this process.")
        with self.uow() as uow:
            row = vol_svc.get_volume(uow, volume_id, self._caller(None))
            readonly = mode == "ro" or (row.admin_metadata or {}).get("readonly") == "True"
        conn = self.driver.attach(volume_id, kind, readonly)
        info = conn.as_dict()
        try:
            with self.uow(write=True) as uow:
                att = att_svc.attach(uow, self._caller(None), volume_id, server_id, host, mountpoint,
                                     "ro" if readonly else "rw", connector={"host": host, "kind": kind})
                att.connection_info = info
        except Exception:
            self.driver.detach(volume_id)
            raise
        return info

    def connect(self, volume_id: str, server_id: str, host: str | None, mountpoint: str | None,
                kind: str = "loop", mode: str = "rw") -> dict:
        """Connect the volume on this host and move ``server_id``'s reserved attachment to ``attaching``
        (``complete`` makes it ``in-use``); returns the connection info.  Idempotent: a connected volume
        returns its connection again (after a host restart, a new one)."""
        if self.driver is None:
            raise ApiError("No volume backend runs in this process.")
        with self.uow() as uow:
            row = vol_svc.get_volume(uow, volume_id, self._caller(None))
            readonly = mode == "ro" or (row.admin_metadata or {}).get("readonly") == "True"
        info = self.driver.attach(volume_id, kind, readonly).as_dict()
        with self.uow(write=True) as uow:
            for att in att_svc.active_attachments(uow, volume_id):
                if att.instance_uuid == server_id:
                    if att.attach_status == st.RESERVED:
                        att_svc.update_attachment(uow, self._caller(None), att.id,
                                                  {"host": host, "kind": kind, "mountpoint": mountpoint})
                    att.connection_info = info
        return info

    def copy_data(self, source_id: str, dest_id: str, chunk: int = 4 << 20) -> None:
        """Copy a volume's bytes onto another (at least as large) one: a compute volume swap.  Runs on
        the host with the backend; zero chunks the destination already reads as zero are skipped, so thin
        volumes stay thin."""
        if self.driver is None:
            raise ApiError("No volume backend runs in this process.")
        size = self.driver.volume_size(source_id)
        zero = bytes(chunk)
        for offset in range(0, size, chunk):
            data = self.driver.read(source_id, offset, min(chunk, size - offset))
            if data != zero[:len(data)] or self.driver.read(dest_id, offset, len(data)) != data:
                self.driver.write(dest_id, offset, data)

    def complete(self, attachment_id: str) -> None:
        """The guest sees the volume: the attachment is ``attached`` and the volume ``in-use``."""
        with self.uow(write=True) as uow:
            att_svc.complete_attachment(uow, self._caller(None), attachment_id)

    def begin_detaching(self, volume_id: str) -> None:
        """in-use -> detaching (400 in Cinder's words when the volume is not attached)."""
        with self.uow(write=True) as uow:
            att_svc.begin_detaching(uow, self._caller(None), volume_id)

    def roll_detaching(self, volume_id: str) -> None:
        with self.uow(write=True) as uow:
            att_svc.roll_detaching(uow, self._caller(None), volume_id)

    def detach(self, volume_id: str, server_id: str | None = None, disconnect: bool = True) -> None:
        """Release the attachment of ``server_id`` (all when None) and, unless another one remains or
        ``disconnect`` is False (nothing was connected), the host connection."""
        with self.uow(write=True) as uow:
            row = vol_svc.get_volume(uow, volume_id, self._caller(None))
            att_svc.detach(uow, self._caller(None), row.id, instance_uuid=server_id)
            still_attached = bool(att_svc.active_attachments(uow, row.id))
        if self.driver is not None and disconnect and not still_attached:
            self.driver.detach(volume_id)

    def unreserve(self, volume_id: str, attachment_id: str) -> None:
        with self.uow(write=True) as uow:
            att_svc.delete_attachment(uow, self._caller(None), attachment_id)

    def delete_volume(self, ctx: RequestContext | None, volume_id: str) -> None:
        with self.uow(write=True) as uow:
            vol_svc.delete_volume(uow, self._caller(ctx), volume_id)
