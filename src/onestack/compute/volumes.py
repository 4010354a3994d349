"""The host agent's volume work: boot volumes, attach/detach, and releasing a server's volumes.

Runs on the compute host (it connects volumes there: ``VolumeClient.connect`` makes the loop device or
hands out the file) and calls the guest driver; the API only recorded the mapping rows and reserved the
volumes (``service/block_devices.py``).  Every step is idempotent, so a crash in the middle is finished
by the next pass: a mapping is ``attached`` only after the guest has the device and the volume is
``in-use``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from sqlalchemy import bindparam, select

from onestack.core.context import RequestContext
from onestack.core.errors import ApiError
from onestack.core.uow import UnitOfWorkFactory

from .drivers.base import GuestDriver, GuestDriverError, GuestNotFound, VolumeAttachment
from .model import BlockDeviceMapping, Instance
from .service import block_devices as bd
from .service.servers import Caller, add_event, record_action

log = logging.getLogger(__name__)

BOOT_VOLUME_TIMEOUT = 600.0  # seconds a boot volume may take to be created (image copies)


_ANY_MAPPING = select(BlockDeviceMapping.id).where(
    BlockDeviceMapping.instance_id == bindparam("instance_id")).limit(1)


class HostVolumes:
    def __init__(self, uow: UnitOfWorkFactory, clients: dict, host_of_image=None) -> None:
        self.uow = uow
        self.clients = clients
        self.image_spec = host_of_image  # image id -> ImageSpec (the agent's ``_image``)

    @property
    def client(self):
        return self.clients.get("block-storage")

    def _rows(self, server_id: str, statuses: tuple[str, ...] | None = None) -> list[BlockDeviceMapping]:
        with self.uow() as uow:
            # most servers have no mappings: a prebuilt Core probe before the ORM query (every boot and delete)
            if uow.session.connection().execute(_ANY_MAPPING, {"instance_id": server_id}).first() is None:
                return []
            rows = bd.mappings(uow, server_id)
            for row in rows:
                uow.session.expunge(row)
        return [r for r in rows if statuses is None or r.status in statuses]

    def _save(self, bdm_id: str, **changes) -> None:
        with self.uow(write=True) as uow:
            row = uow.session.get(BlockDeviceMapping, bdm_id)
            if row is None:
                return
            for key, value in changes.items():
                setattr(row, key, value)
            instance = uow.session.get(Instance, row.instance_id)
            if instance is not None:
                bd.refresh_summary(uow, instance)

    def _drop(self, bdm_id: str, server_id: str, event: str | None = None, ok: bool = True,
              details: str | None = None, action: str | None = None) -> None:
        with self.uow(write=True) as uow:
            row = uow.session.get(BlockDeviceMapping, bdm_id)
            if row is not None:
                uow.session.delete(row)
            instance = uow.session.get(Instance, server_id)
            if instance is not None:
                bd.refresh_summary(uow, instance)
            if event:
                add_event(uow, server_id, event, instance.host if instance else None, ok, details, action)

    def _event(self, server_id: str, host: str, event: str, action: str, ok: bool = True,
               details: str | None = None) -> None:
        with self.uow(write=True) as uow:
            add_event(uow, server_id, event, host, ok, details, action_name=action)

    def _attachment(self, row: BlockDeviceMapping, info: dict | None) -> VolumeAttachment:
        image = None
        if row.boot_index == 0 and self.image_spec is not None:
            image_id = row.source_id if row.source_type == "image" else None
            if image_id is None and row.volume_id and self.client is not None:
                meta = (self.client.get_volume(None, row.volume_id).get("volume_image_metadata") or {})
                image_id = meta.get("image_id")
            image = self.image_spec(image_id) if image_id else None
        return VolumeAttachment(volume_id=row.volume_id or "", device=row.device_name or "",
                                connection_info=dict(info or row.connection_info or {}), boot_index=row.boot_index,
                                image=image, tag=row.tag)

    # -- for a spawn ----------------------------------------------------------------------------------

    def guest_volumes(self, server_id: str, host: str, driver: GuestDriver) -> tuple[VolumeAttachment, ...]:
        """The attached volumes, (re)connected on this host: what a re-created guest gets."""
        out = []
        for row in self._rows(server_id, (bd.ATTACHED, bd.DETACHING)):
            info = self.client.connect(row.volume_id, server_id, host, row.device_name, driver.volume_connection)
            if info != row.connection_info:
                self._save(row.id, connection_info=info)
            out.append(self._attachment(row, info))
        return tuple(out)

    def prepare_boot(self, ctx: RequestContext, server_id: str, name: str, host: str,
                     driver: GuestDriver) -> tuple[VolumeAttachment, ...]:
        """Create (source image/snapshot/blank), reserve and connect the volumes of a new server."""
        pending = self._rows(server_id, (bd.PENDING,))
        if not pending:
            return ()
        client = self.client
        if client is None:
            raise GuestDriverError("Block storage is not available: cannot boot with volumes.")
        if any(r.boot_index == 0 for r in pending) and not driver.supports_boot_from_volume:
            raise GuestDriverError(f"The {driver.name} driver cannot boot from a volume.")
        for row in pending:
            if row.volume_id is None:
                doc = client.create_volume_for_boot(
                    ctx, size=row.volume_size, image_id=row.source_id if row.source_type == "image" else None,
                    snapshot_id=row.source_id if row.source_type == "snapshot" else None,
                    name=f"{name}-{row.device_name.rsplit('/', 1)[-1] if row.device_name else 'vol'}",
                    volume_type=row.volume_type)
                row.volume_id = doc["id"]
                self._save(row.id, volume_id=doc["id"])  # from now on, releasing the server finds it
                client.wait_for_status(doc["id"], timeout=BOOT_VOLUME_TIMEOUT)
            if row.attachment_id is None:
                row.attachment_id = client.reserve(ctx, row.volume_id, server_id)
                self._save(row.id, attachment_id=row.attachment_id)
        out = []
        for row in pending:
            info = client.connect(row.volume_id, server_id, host, row.device_name, driver.volume_connection)
            self._save(row.id, connection_info=info)
            out.append(self._attachment(row, info))
        return tuple(out)

    def finish_boot(self, server_id: str) -> None:
        for row in self._rows(server_id, (bd.PENDING,)):
            self._save(row.id, status=bd.ATTACHED)
            self.client.complete(row.attachment_id)

    # -- os-volume_attachments ------------------------------------------------------------------------

    def converge(self, server_id: str, host: str, driver: GuestDriver) -> None:
        """Carry out requested attaches and detaches."""
        rows = self._rows(server_id)
        for row in rows:
            if row.status == bd.ATTACHING:
                self._attach(row, host, driver)
            elif row.status == bd.DETACHING:
                self._detach(row, host, driver)
            elif row.status == bd.SWAPPING:
                old = next((r for r in rows if r.device_name == row.device_name and r.status == bd.ATTACHED), None)
                self._swap(old, row, host, driver)

    def _attach(self, row: BlockDeviceMapping, host: str, driver: GuestDriver) -> None:
        server_id = row.instance_id
        try:
            info = self.client.connect(row.volume_id, server_id, host, row.device_name, driver.volume_connection)
            # no guest on the host now (stopped and gone): it gets the volume when re-created
            with contextlib.suppress(GuestNotFound):
                driver.attach_volume(server_id, self._attachment(row, info))
            # the mapping is attached before the volume shows in-use: a detach may follow at once
            self._save(row.id, status=bd.ATTACHED, connection_info=info)
            self.client.complete(row.attachment_id)
        except Exception as exc:  # a volume backend error too: the request fails, the server stays
            log.warning("attach of volume %s to %s failed: %s", row.volume_id, server_id, exc)
            try:
                self.client.detach(row.volume_id, server_id)
            except ApiError:
                log.exception("release of volume %s after a failed attach", row.volume_id)
            self._drop(row.id, server_id, "compute_attach_volume", False, str(exc), "attach_volume")
            return
        self._event(server_id, host, "compute_attach_volume", "attach_volume")

    def _detach(self, row: BlockDeviceMapping, host: str, driver: GuestDriver) -> None:
        server_id = row.instance_id
        try:
            with contextlib.suppress(GuestNotFound):
                driver.detach_volume(server_id, row.volume_id)
        except GuestDriverError as exc:
            log.warning("detach of volume %s from %s failed: %s", row.volume_id, server_id, exc)
            self.client.roll_detaching(row.volume_id)
            self._save(row.id, status=bd.ATTACHED)
            self._event(server_id, host, "compute_detach_volume", "detach_volume", False, str(exc))
            return
        # the mapping goes before the volume shows available: an attach that follows at once finds the
        # device name free again
        self._drop(row.id, server_id, "compute_detach_volume", action="detach_volume")
        self.client.detach(row.volume_id, server_id)

    def _swap(self, old: BlockDeviceMapping | None, new: BlockDeviceMapping, host: str, driver: GuestDriver) -> None:
        """The guest's disk moves from the old volume to the new one: unplugged, copied, plugged again (a
        container cannot mirror a live device, so the guest sees the disk go away for the copy)."""
        server_id, client = new.instance_id, self.client
        unplugged = False
        try:
            if old is None:
                raise GuestDriverError("the volume to swap out is no longer attached")
            info = client.connect(new.volume_id, server_id, host, new.device_name, driver.volume_connection)
            with contextlib.suppress(GuestNotFound):
                driver.detach_volume(server_id, old.volume_id)
            unplugged = True
            client.copy_data(old.volume_id, new.volume_id)
            with contextlib.suppress(GuestNotFound):
                driver.attach_volume(server_id, self._attachment(new, info))
        except Exception as exc:  # the server keeps the old volume
            log.warning("swap of volume %s to %s on %s failed: %s", old and old.volume_id, new.volume_id,
                        server_id, exc)
            if unplugged and old is not None:
                with contextlib.suppress(Exception):
                    driver.attach_volume(server_id, self._attachment(old, old.connection_info))
            with contextlib.suppress(ApiError):
                client.detach(new.volume_id, server_id)
            if old is not None:
                client.roll_detaching(old.volume_id)
            self._drop(new.id, server_id, "compute_swap_volume", False, str(exc), "swap_volume")
            return
        self._drop(old.id, server_id)
        self._save(new.id, status=bd.ATTACHED, connection_info=info)
        client.complete(new.attachment_id)
        client.detach(old.volume_id, server_id)
        self._event(server_id, host, "compute_swap_volume", "swap_volume")

    # -- volume-extended ------------------------------------------------------------------------------

    def extend(self, server_id: str, volume_id: str, new_size_gb: int, host: str, driver: GuestDriver) -> None:
        """Block storage grew an attached volume: the guest learns the new capacity (Nova's handling of the
        ``volume-extended`` external event, recorded as an ``extend_volume`` action)."""
        if not any(r.volume_id == volume_id for r in self._rows(server_id, (bd.ATTACHED,))):
            return  # detached meanwhile (or not yet attached: the guest sees the whole volume when it is)
        ok, details = True, None
        try:
            with contextlib.suppress(GuestNotFound):  # no guest now: the next one opens the grown volume
                driver.extend_volume(server_id, volume_id, new_size_gb << 30)
        except GuestDriverError as exc:
            log.warning("extend of volume %s on %s failed: %s", volume_id, server_id, exc)
            ok, details = False, str(exc)
        with self.uow(write=True) as uow:
            instance = uow.session.get(Instance, server_id)
            if instance is None or instance.deleted:
                return
            record_action(uow, instance, "extend_volume",
                          Caller(project_id=instance.project_id, user_id=instance.user_id,
                                 request_id=f"req-{uuid.uuid4()}"))
            add_event(uow, server_id, "compute_extend_volume", host, ok, details, action_name="extend_volume")

    # -- the end of a server ----------------------------------------------------------------------------

    def release(self, server_id: str) -> None:
        """Detach every volume of a deleted (or failed) server and delete the delete_on_termination ones;
        the mapping rows go with them."""
        client = self.client
        for row in self._rows(server_id):
            if row.volume_id and client is not None:
                try:
                    client.detach(row.volume_id, server_id)
                except ApiError as exc:
                    if exc.status != 404:
                        log.warning("detach of volume %s from deleted server %s: %s", row.volume_id, server_id,
                                    exc)
                if row.delete_on_termination:
                    try:
                        client.delete_volume(None, row.volume_id)
                    except ApiError as exc:
                        if exc.status != 404:
                            log.warning("delete of volume %s of deleted server %s: %s", row.volume_id,
                                        server_id, exc)
            self._drop(row.id, server_id)

