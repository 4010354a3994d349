"""Image data: streaming upload and staging with hashes computed on the way, glance-direct import,
reading data back, and recovery of interrupted uploads at start.

An upload is a ``DataSession``: ``begin_upload``/``begin_stage`` move the image to ``saving`` /
``uploading`` in one transaction, ``submit``/``write`` take blocks (md5, the os_hash and the store
write run in parallel, pipelined with receiving), ``finish`` commits the store write and records
size, hashes and virtual size in a second transaction; ``fail`` drops the partial data and puts the
image back to ``queued``.  No transaction is open while bytes flow.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import select

from onestack.core.context import RequestContext
from onestack.core.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
)

from .. import states
from ..backends import ImageStore, StoreError, StoreFull, StoreNotFound
from ..model import Image
from . import formats, importing, quotas, web_download
from .common import Deps
from .images import get_image, not_found
from .lanes import Lane, all_of

log = logging.getLogger(__name__)

UPLOAD = "upload"
STAGE = "stage"


@dataclass(frozen=True)
class Stored:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    format: str
    virtual_size: int | None
    unsafe: str | None = None

    def as_dict(self) -> dict:
        return {"size": self.size, "checksum": self.checksum, "os_hash_algo": self.os_hash_algo,
                "os_hash_value": self.os_hash_value, "format": self.format, "virtual_size": self.virtual_size,
                "unsafe": self.unsafe}


class DataSession:
    """One upload (or stage) in flight.

    Blocks go through three ordered lanes on the shared pool -- md5, the os_hash, and the store write
    (which also keeps the head and tail for format inspection) -- so the two hashes and the write of
    one block overlap with each other and with receiving the next blocks.  At most ``DEPTH`` blocks
    are in flight: memory stays bounded whatever the image size.  ``submit`` never blocks; callers
    wait on ``backlog()`` (async callers) or use ``write`` (blocking).  Call from one thread at a time.
    """

    BLOCK = 4 << 20  # bytes gathered into one block by streaming callers
    DEPTH = 3  # blocks in flight

    def __init__(self, deps: Deps, image: Image, kind: str, declared_size: int | None,
                 remaining: int | None, from_status: str | None = None) -> None:
        self.deps = deps
        self.image_id = image.id
        self.owner = image.owner
        self.disk_format = image.disk_format
        self.kind = kind
        self.from_status = from_status or (states.SAVING if kind == UPLOAD else states.UPLOADING)
        # called with the image row and whether it became active, in the transaction that settles it
        self.on_settle: Callable[[Image, bool], None] | None = None
        self.store: ImageStore = deps.store if kind == UPLOAD else deps.staging
        self.declared_size = declared_size
        self.remaining = remaining
        self.cap = deps.settings.image_size_cap
        self.algo = deps.settings.hashing_algorithm
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.hash = hashlib.new(self.algo)
        self.head = bytearray()
        self.tail = b""
        self.size = 0  # bytes accepted by ``submit``
        self.writer = self.store.writer(image.id)
        self.lanes = (Lane(deps.pool), Lane(deps.pool), Lane(deps.pool))
        self.inflight: deque[tuple[Future, list[Future]]] = deque()
        self.closed = False
        self.committed = False

    # -- streaming --------------------------------------------------------------------------------

    def submit(self, block: bytes | list[bytes]) -> None:
        """Queue a block (bytes, or a list of buffers taken as one) for hashing and writing."""
        parts = [p for p in ([block] if isinstance(block, (bytes, bytearray, memoryview)) else block) if p]
        length = sum(len(p) for p in parts)
        if not length:
            return
        self._reap()
        size = self.size + length
        if size > self.cap:
            raise RequestEntityTooLarge(f"The incoming image is too large: it exceeds the maximum image size "
                                        f"of {self.cap} bytes.")
        if self.remaining is not None and size > self.remaining:
            resource = "image_size_total" if self.kind == UPLOAD else "image_stage_total"
            raise RequestEntityTooLarge(f"Image exceeds the storage quota: project {self.owner} is over its "
                                        f"{resource} limit.")
        if self.declared_size is not None and size > self.declared_size:
            raise BadRequest(f"Image data is larger than the declared size of {self.declared_size} bytes.")
        md5, other, store = self.lanes
        futures = [md5.submit(_update, self.md5, parts), other.submit(_update, self.hash, parts),
                   store.submit(self._store, parts)]
        self.inflight.append((all_of(futures), futures))
        self.size = size

    def blocks(self) -> list[memoryview]:
        """Buffers for streaming callers to receive into and ``submit`` in turn, round robin: with
        ``DEPTH`` of them, the next one is never still in flight once ``backlog()`` is empty.  Page
        aligned (anonymous mmaps), so the store can write them with O_DIRECT without a copy."""
        return [memoryview(mmap.mmap(-1, self.BLOCK)) for _ in range(self.DEPTH)]

    def backlog(self) -> Future | None:
        """The oldest block's future while the pipeline is full (wait for it, then submit more)."""
        self._reap()
        return self.inflight[0][0] if len(self.inflight) >= self.DEPTH else None

    def write(self, block: bytes | list[bytes]) -> None:
        """Blocking ``submit``: returns once there is room for the next block."""
        self.submit(block)
        while (oldest := self.backlog()) is not None:
            oldest.result()

    def drain(self) -> None:
        """Wait until every submitted block is hashed and written (raising the first error)."""
        while self.inflight:
            self.inflight[0][0].result()
            self.inflight.popleft()

    def _reap(self) -> None:
        while self.inflight and self.inflight[0][0].done():
            self.inflight[0][0].result()  # raises the block's error
            self.inflight.popleft()

    def _store(self, parts: list[bytes]) -> None:
        try:
            self.writer.writelines(parts)
        except StoreFull as exc:
            raise RequestEntityTooLarge(f"Image storage media is full: {exc}") from None
        except StoreError as exc:
            raise ServiceUnavailable(f"Could not store image data: {exc}") from None
        for part in parts:
            if len(self.head) < formats.HEAD:
                self.head += part[:formats.HEAD - len(self.head)]
                if len(self.head) >= formats.HEAD:
                    self._early_format_check()
            self.tail = (self.tail + part[-formats.TAIL:])[-formats.TAIL:]

    def _early_format_check(self) -> None:
        """Refuse mismatched data as soon as its header is in, not after the whole body."""
        if self.kind != UPLOAD:
            return
        found = formats.inspect(bytes(self.head), b"", formats.HEAD)
        if found.format == "raw" and self.disk_format in ("raw", "iso", "vhd"):
            return  # a VHD footer (or an ISO volume descriptor past the head) may still come
        reason = formats.mismatch(self.disk_format, found)
        if reason:
            raise BadRequest(reason)

    def result(self) -> Stored:
        found = formats.inspect(bytes(self.head), self.tail, self.size)
        return Stored(self.size, self.md5.hexdigest(), self.algo, self.hash.hexdigest(), found.format,
                      found.virtual_size, found.unsafe)

    # -- end of stream ----------------------------------------------------------------------------

    def finish(self) -> Stored:
        self.drain()
        if self.declared_size is not None and self.size != self.declared_size:
            raise BadRequest(f"Image data size ({self.size} bytes) does not match the declared size "
                             f"({self.declared_size} bytes).")
        stored = self.result()
        if self.kind == UPLOAD:
            reason = formats.mismatch(self.disk_format, formats.Detected(stored.format, stored.virtual_size,
                                                                         stored.unsafe))
            if reason:
                raise BadRequest(reason)
        try:
            self.writer.commit()
            self.committed = True
        except StoreFull as exc:
            raise RequestEntityTooLarge(f"Image storage media is full: {exc}") from None
        except StoreError as exc:
            raise ServiceUnavailable(f"Could not store image data: {exc}") from None
        error: ApiError | None = None
        with self.deps.uow(write=True) as uow:
            image = uow.session.scalar(select(Image).where(Image.id == self.image_id).with_for_update())
            if image is None or image.status != self.from_status:
                error = Gone(f"Image {self.image_id} could not be found after upload. The image may have been "
                             "deleted during the upload.")
            elif self.kind == UPLOAD:
                limit = self.deps.limit("image_size_total", image.owner)
                usage = quotas.stored_bytes(uow.session, image.owner, exclude=image.id) if image.owner else 0
                try:
                    quotas.check_size(image.owner, "image_size_total", limit, usage, stored.size)
                except ApiError as exc:
                    error = exc
                    image.status = states.QUEUED
                else:
                    image.size = stored.size
                    image.checksum = stored.checksum
                    image.os_hash_algo = stored.os_hash_algo
                    image.os_hash_value = stored.os_hash_value
                    image.virtual_size = stored.virtual_size
                    image.store = self.store.id
                    image.status = states.ACTIVE
                if self.on_settle is not None:
                    self.on_settle(image, error is None)
            else:
                limit = self.deps.limit("image_stage_total", image.owner)
                usage = quotas.staged_bytes(uow.session, image.owner, exclude=image.id) if image.owner else 0
                try:
                    quotas.check_size(image.owner, "image_stage_total", limit, usage, stored.size)
                except ApiError as exc:
                    error = exc
                    image.status = states.QUEUED
                else:
                    image.size = stored.size
                    image.staged = stored.as_dict()
        self.closed = True
        if error is not None:
            self.store.delete(self.image_id)
            raise error
        return stored

    def fail(self) -> None:
        """Drop the partial data and put the image back to ``queued`` (idempotent)."""
        if self.closed:
            return
        self.closed = True
        lanes = [f for _, futures in self.inflight for f in futures]
        for future in lanes:
            future.cancel()  # blocks not started yet
        wait(lanes)  # the running ones must stop touching the writer before it is aborted
        self.inflight.clear()
        self.writer.abort()
        if self.committed:
            self.store.delete(self.image_id)
        restore_queued(self.deps, self.image_id, self.from_status, self.on_settle)


def _update(digest, parts: list[bytes]) -> None:
    for part in parts:
        digest.update(part)  # releases the GIL for buffers over 2 KiB


def restore_queued(deps: Deps, image_id: str, from_status: str,
                   on_settle: Callable[[Image, bool], None] | None = None) -> None:
    with deps.uow(write=True) as uow:
        image = uow.session.get(Image, image_id)
        if image is not None and image.status == from_status:
            image.status = states.QUEUED
            if from_status in (states.UPLOADING, states.IMPORTING):
                image.size = None
                image.staged = None
            if on_settle is not None:
                on_settle(image, False)


def _begin(deps: Deps, ctx: RequestContext | None, image_id: str, kind: str,
           declared_size: int | None) -> DataSession:
    with deps.uow() as uow:
        owner = get_image(uow, ctx, image_id).owner
    uploading_limit = deps.limit("image_count_uploading", owner)
    size_resource = "image_size_total" if kind == UPLOAD else "image_stage_total"
    size_limit = deps.limit(size_resource, owner)
    target = states.SAVING if kind == UPLOAD else states.UPLOADING
    with deps.uow(write=True) as uow:
        image = get_image(uow, ctx, image_id, lock=True)
        if image.status != states.QUEUED:
            raise Conflict(f"Image status transition from {image.status} to {target} is not allowed")
        if kind == UPLOAD and not (image.disk_format and image.container_format):
            raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
        quotas.check_uploading(uow.session, uploading_limit, image.owner)
        usage = 0
        if image.owner:
            usage = (quotas.stored_bytes if kind == UPLOAD else quotas.staged_bytes)(uow.session, image.owner)
        quotas.check_size(image.owner, size_resource, size_limit, usage)
        remaining = quotas.remaining_bytes(size_limit, usage) if image.owner else None
        if declared_size is not None:  # refuse before a single byte of the body is read
            if declared_size > deps.settings.image_size_cap:
                raise RequestEntityTooLarge(f"The incoming image is too large: it exceeds the maximum image size "
                                            f"of {deps.settings.image_size_cap} bytes.")
            if remaining is not None and declared_size > remaining:
                raise quotas.over_limit(image.owner, size_resource, size_limit, usage // quotas.MIB,
                                        -(-declared_size // quotas.MIB))
        image.status = target
        uow.flush()
        session = DataSession(deps, image, kind, declared_size, remaining)
    return session


def begin_upload(deps: Deps, ctx: RequestContext | None, image_id: str,
                 declared_size: int | None = None) -> DataSession:
    return _begin(deps, ctx, image_id, UPLOAD, declared_size)


def begin_stage(deps: Deps, ctx: RequestContext | None, image_id: str,
                declared_size: int | None = None) -> DataSession:
    if "glance-direct" not in import_methods(deps):
        raise NotFound("'glance-direct' method is not available at this site.")
    return _begin(deps, ctx, image_id, STAGE, declared_size)


def write_all(session: DataSession, chunks: Iterable[bytes]) -> Stored:
    """Synchronous upload from an iterable (in-process callers: snapshots, volume upload-to-image)."""
    try:
        for chunk in chunks:
            session.write(chunk)
        return session.finish()
    except BaseException:
        session.fail()
        raise


# -- import ---------------------------------------------------------------------------------------


SUPPORTED_IMPORT_METHODS = ("glance-direct", web_download.METHOD)


def import_methods(deps: Deps) -> list[str]:
    """The enabled methods this deployment implements (others answer as upstream when disabled)."""
    configured = [m.strip() for m in deps.settings.enabled_import_methods.split(",") if m.strip()]
    return [m for m in configured if m in SUPPORTED_IMPORT_METHODS]


def import_image(deps: Deps, ctx: RequestContext | None, image_id: str, method: str,
                 uri: str | None = None) -> Future | None:
    """Start an import; web-download returns the future of the download running in the background."""
    if method not in import_methods(deps):
        raise BadRequest(f"Unknown import method name '{method}'.")
    if method == web_download.METHOD:
        return web_download.start(deps, ctx, image_id, uri)
    _import_staged(deps, ctx, image_id)
    return None


def _import_staged(deps: Deps, ctx: RequestContext | None, image_id: str) -> None:
    """glance-direct: move the staged data into the store and make the image active."""
    with deps.uow() as uow:
        owner = get_image(uow, ctx, image_id).owner
    size_limit = deps.limit("image_size_total", owner)
    with deps.uow(write=True) as uow:
        image = get_image(uow, ctx, image_id, lock=True)
        if image.status == states.ACTIVE:
            raise Conflict("Image with status active cannot be target for import")
        if image.status != states.UPLOADING or not image.staged:
            raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
        if not image.container_format:
            raise Conflict("'container_format' needs to be set before import")
        if not image.disk_format:
            raise Conflict("'disk_format' needs to be set before import")
        staged = Stored(**image.staged)
        reason = formats.mismatch(image.disk_format, formats.Detected(staged.format, staged.virtual_size,
                                                                      staged.unsafe))
        if reason is None:
            usage = quotas.stored_bytes(uow.session, image.owner, exclude=image.id) if image.owner else 0
            quotas.check_size(image.owner, "image_size_total", size_limit, usage, staged.size)
        if importing.TASK in image.extra():
            raise Conflict(f"New operation on image '{image_id}' is not permitted as prior operation is still "
                           "in progress")
        image.status = states.IMPORTING
        importing.begin(image, deps.store.id)
        if reason is not None:
            # As upstream's import task: data the format inspection refuses fails the import (the API has
            # answered 202 by then), which puts the image back to queued with the store in
            # os_glance_failed_import; the staged data goes with it.
            log.warning("glance-direct import of image %s refused: %s", image_id, reason)
            image.status = states.QUEUED
            image.size = None
            image.staged = None
            importing.settle(image, deps.store.id, ok=False)
            deps.staging.delete(image_id)  # under the row lock: a new stage cannot have begun
    if reason is not None:
        return

    def failed(row: Image, ok: bool) -> None:
        importing.settle(row, deps.store.id, ok)

    try:
        deps.store.add(image_id, deps.staging.get(image_id))
    except StoreNotFound:
        restore_queued(deps, image_id, states.IMPORTING, failed)
        raise Conflict("Image needs to be staged before 'glance-direct' method can be used") from None
    except StoreFull as exc:
        restore_queued(deps, image_id, states.IMPORTING, failed)
        deps.staging.delete(image_id)
        raise RequestEntityTooLarge(f"Image storage media is full: {exc}") from None
    except BaseException:
        restore_queued(deps, image_id, states.IMPORTING, failed)
        raise
    gone = False
    with deps.uow(write=True) as uow:
        image = uow.session.scalar(select(Image).where(Image.id == image_id).with_for_update())
        if image is None or image.status != states.IMPORTING:
            gone = True
        else:
            image.size = staged.size
            image.checksum = staged.checksum
            image.os_hash_algo = staged.os_hash_algo
            image.os_hash_value = staged.os_hash_value
            image.virtual_size = staged.virtual_size
            image.store = deps.store.id
            image.staged = None
            image.status = states.ACTIVE
            importing.settle(image, deps.store.id, ok=True)
    deps.staging.delete(image_id)
    if gone:
        deps.store.delete(image_id)
        raise not_found(image_id)


# -- reading --------------------------------------------------------------------------------------


def read_data(deps: Deps, image: Image, offset: int = 0, length: int | None = None) -> Iterator[bytes] | None:
    """The image's bytes, or None when it has none (queued, or data missing from the store)."""
    if not image.store or image.size is None:
        return None
    try:
        return deps.store.get(image.id, offset, length)
    except StoreNotFound:
        return None


def open_data(deps: Deps, image: Image) -> BinaryIO | None:
    """The image's data as an open local file, for stores that keep one (the server sends it from
    there without passing the bytes through Python)."""
    if not image.store or image.size is None:
        return None
    try:
        return deps.store.open(image.id)
    except StoreNotFound:
        return None


def delete_data(deps: Deps, image_id: str) -> None:
    deps.store.delete(image_id)
    deps.staging.delete(image_id)


# -- start-up recovery ----------------------------------------------------------------------------


def recover(deps: Deps) -> dict:
    """After a crash: remove partial writes, put interrupted uploads back to ``queued``, drop orphans."""
    report = {"partial": deps.store.cleanup() + deps.staging.cleanup(), "requeued": 0, "orphans": 0}
    with deps.uow(write=True) as uow:
        rows = uow.session.execute(select(Image.id, Image.status, Image.store)).all()
        known_store = {r.id for r in rows if r.store and r.status not in (states.SAVING,)}
        known_staged = {r.id for r in rows if r.status in (states.UPLOADING, states.IMPORTING)}
        for image in uow.session.scalars(select(Image).where(Image.status.in_(states.IN_FLIGHT))):
            if image.status == states.IMPORTING or (image.status == states.UPLOADING and not image.staged):
                image.status = states.QUEUED
                image.size = None
                image.staged = None
                importing.recover(image, deps.store.id)
                known_staged.discard(image.id)
                report["requeued"] += 1
            elif image.status == states.SAVING:
                image.status = states.QUEUED
                report["requeued"] += 1
    for image_id in deps.store.ids():
        if image_id not in known_store:
            deps.store.delete(image_id)
            report["orphans"] += 1
    for image_id in deps.staging.ids():
        if image_id not in known_staged:
            deps.staging.delete(image_id)
            report["orphans"] += 1
    return report
