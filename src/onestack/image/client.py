"""The image service's in-process facade: handlers reach it as ``req.deps``; compute and block
storage use it to read images and their data and to create images (snapshots, upload-to-image)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import bindparam, select

from onestack.core.config import Settings
from onestack.core.context import RequestContext
from onestack.core.errors import Forbidden, NotFound
from onestack.core.uow import UnitOfWorkFactory

from .backends import FilesystemImageStore, ImageStore
from .model import Image, ImageProperty
from .service import data as data_svc
from .service import images as images_svc
from .service.quotas import DEFAULT_LIMITS
from .views.images import image as image_view

log = logging.getLogger(__name__)

_GUEST_FIELDS = select(Image.disk_format, Image.container_format, Image.os_hash_algo, Image.os_hash_value,
                       Image.store).where(Image.id == bindparam("image_id"))
_CUSTOM_PROPERTIES = select(ImageProperty.name, ImageProperty.value).where(
    ImageProperty.image_id == bindparam("image_id")).order_by(ImageProperty.name)

_BOOT_FACTS = select(Image.status, Image.size, Image.min_disk, Image.min_ram, Image.visibility,
                     Image.owner).where(Image.id == bindparam("image_id"))

LimitFn = Callable[[str, str, str], "int | None"]  # (service_type, resource, project_id)


class ImageClient:
    service_type = "image"

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, identity=None,
                 store: ImageStore | None = None, staging: ImageStore | None = None) -> None:
        self.settings = settings.image
        self.uow = uow
        root = settings.data_path / "images"
        self.store = store or FilesystemImageStore(root)
        self.staging = staging or FilesystemImageStore(root / ".staging", id="os_glance_staging_store",
                                                       description="Staging area for glance-direct imports")
        self.identity = identity
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="image-data")
        self.tasks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="image-import")

    # -- quotas ------------------------------------------------------------------------------------

    def limit(self, resource: str, project_id: str | None) -> int | None:
        if project_id is None or self.identity is None:
            return None
        return self.identity.effective_limit(self.service_type, resource, project_id)

    def bootstrap(self) -> None:
        """Register default quotas; clean up after a crash (partial files, interrupted uploads)."""
        if self.identity is not None:
            self.identity.ensure_registered_limits(self.service_type, DEFAULT_LIMITS)
        report = data_svc.recover(self)
        if any(report.values()):
            log.info("image store recovery: %s", report)

    def close(self) -> None:
        self.tasks.shutdown(wait=False, cancel_futures=True)
        self.pool.shutdown(wait=False)

    # -- for other services ------------------------------------------------------------------------

    def get_image(self, ctx: RequestContext | None, image_id: str) -> dict | None:
        """The Glance v2 image document, or None when it does not exist or ``ctx`` may not see it."""
        with self.uow() as uow:
            try:
                return image_view(images_svc.get_image(uow, ctx, image_id))
            except NotFound:
                return None

    def image_status(self, ctx: RequestContext | None, image_id: str) -> str | None:
        """The image's status, or None when it does not exist or ``ctx`` may not see it."""
        facts = self.boot_facts(ctx, image_id)
        return facts["status"] if facts else None

    def boot_facts(self, ctx: RequestContext | None, image_id: str) -> dict | None:
        """``status``, ``size``, ``min_disk`` and ``min_ram`` of the image, or None when it does not exist or
        ``ctx`` may not see it: one prebuilt column statement (a server create checks its image against the flavor; the
        whole document costs several statements)."""
        keys = ("status", "size", "min_disk", "min_ram")
        with self.uow() as uow:
            row = uow.session.connection().execute(_BOOT_FACTS, {"image_id": image_id}).first()
            if row is None:
                return None
            if ctx is None or ctx.is_admin or row.visibility in ("public", "community") or (
                    ctx.project_id and row.owner == ctx.project_id):
                return {k: getattr(row, k) for k in keys}
        image = self.get_image(ctx, image_id)  # shared: the members decide
        return {k: image.get(k) for k in keys} if image else None

    def image_guest_fields(self, image_id: str) -> dict | None:
        """What a compute host needs of an image to start a guest (no caller: internal), in two column
        reads instead of the whole document's three ORM statements: ``disk_format``, ``container_format``,
        ``os_hash_algo``, ``os_hash_value``, ``store`` and ``properties`` (the custom ones)."""
        with self.uow() as uow:
            conn = uow.session.connection()
            row = conn.execute(_GUEST_FIELDS, {"image_id": image_id}).first()
            if row is None:
                return None
            fields = dict(row._mapping)
            fields["properties"] = dict(conn.execute(_CUSTOM_PROPERTIES, {"image_id": image_id}).all())
        return fields

    def find_images(self, name: str | None = None, ctx: RequestContext | None = None) -> list[dict]:
        """Images named ``name`` (every image when None) that ``ctx`` may see (None: any owner and
        visibility, hidden ones included), newest first."""
        conds = (images_svc.Cond("name", "eq", name),) if name is not None else ()
        query = images_svc.ListImages(conds=conds, visibility="all", member_status="all", os_hidden=True,
                                      limit=self.settings.api_limit_max)
        with self.uow() as uow:
            return [image_view(r) for r in images_svc.list_images(uow, ctx, query)[0]]

    def image_data_path(self, image_id: str) -> Path | None:
        """The local file holding an active image's data (filesystem store), else None."""
        return self.store.path(image_id)

    def open_image_data(self, image_id: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The image's bytes in chunks (raises StoreNotFound when it has no data)."""
        return self.store.get(image_id, offset, length)

    def create_image(self, ctx: RequestContext | None, **fields) -> dict:
        """Create a queued image owned by ``ctx``'s project (or ``owner=``); custom properties as kwargs."""
        core = {k: fields.pop(k) for k in list(fields) if k in images_svc.CreateImage.__dataclass_fields__}
        core.setdefault("owner", ctx.project_id if ctx is not None else None)
        core["tags"] = tuple(core.get("tags") or ())
        properties = {k: str(v) for k, v in fields.items() if v is not None}
        cmd = images_svc.CreateImage(**core, properties=properties)
        limit = self.limit("image_count_total", cmd.owner)
        with self.uow(write=True) as uow:
            image = images_svc.create_image(uow, self.settings, cmd, limit)
            return image_view(image)

    def upload_image_data(self, image_id: str, chunks: Iterable[bytes], disk_format: str | None = None) -> dict:
        """Upload data to a queued image (as the internal service, no visibility check); returns the image.
        ``disk_format``: the data's format when it is not the one the image was made with (a snapshot's is
        known only once the hypervisor wrote it)."""
        if disk_format is not None:
            with self.uow(write=True) as uow:
                image = images_svc.get_image(uow, None, image_id, lock=True)
                if image.disk_format != disk_format:
                    images_svc.update_image(uow, self.settings, image,
                                            [images_svc.Change("replace", "disk_format", disk_format)])
        session = data_svc.begin_upload(self, None, image_id)
        data_svc.write_all(session, chunks)
        return self.get_image(None, image_id) or {}

    # -- the compute API's image proxy (deprecated upstream, served up to compute 2.35) ---------------

    def delete_image(self, ctx: RequestContext | None, image_id: str) -> None:
        """As DELETE /v2/images/{id} by ``ctx``: NotFound when it may not see the image, Forbidden
        unless it owns it (or is an administrator) or when the image is protected."""
        with self.uow(write=True) as uow:
            image = images_svc.get_image(uow, ctx, image_id, lock=True)
            _check_owner(ctx, image)
            images_svc.delete_image(uow, image, lambda gone: data_svc.delete_data(self, gone))

    def set_image_properties(self, ctx: RequestContext | None, image_id: str, properties: dict[str, str],
                             replace: bool = False, remove: tuple[str, ...] = ()) -> dict:
        """Add or change custom properties (``replace``: exactly these; ``remove``: drop those keys)."""
        with self.uow(write=True) as uow:
            image = images_svc.get_image(uow, ctx, image_id, lock=True)
            _check_owner(ctx, image)
            current = image.extra()
            changes = [images_svc.Change("remove", key) for key in current
                       if key in remove or (replace and key not in properties)]
            changes += [images_svc.Change("add", key, str(value)) for key, value in properties.items()]
            image = images_svc.update_image(uow, self.settings, image, changes)
            return image_view(image)


def _check_owner(ctx: RequestContext | None, image) -> None:
    if ctx is not None and not ctx.is_admin and image.owner != ctx.project_id:
        raise Forbidden(f"You are not authorized to modify image {image.id}.")
