"""The store interface: add, get, delete (plus a streaming writer that ``add`` is built on).

A store keeps opaque bytes under an image id.  Writes are all-or-nothing: data becomes visible to
``get`` only when the writer commits; an aborted or crashed write leaves nothing that ``get`` or
``ids`` would return, and ``cleanup`` removes whatever partial data a crash left behind.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class StoreError(Exception):
    pass


class StoreNotFound(StoreError):
    pass


class StoreFull(StoreError):
    """No space left for the data (upstream: StorageFull -> 413)."""


class StoreWriter(abc.ABC):
    """Receives an image's bytes in order; ``commit`` makes them durable and visible."""

    written: int = 0

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    def writelines(self, parts: Iterable[bytes]) -> None:
        """Write several buffers in order (a store may do it in one system call)."""
        for part in parts:
            self.write(part)

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop everything written; safe to call more than once and after a failed commit."""

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class ImageStore(abc.ABC):
    id: str = ""  # the store identifier shown in /v2/info/stores and an image's ``stores``
    description: str = ""
    type: str = ""  # the store kind ("file", "fake")

    @abc.abstractmethod
    def writer(self, image_id: str) -> StoreWriter: ...

    @abc.abstractmethod
    def get(self, image_id: str, offset: int = 0, length: int | None = None,
            chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The bytes [offset, offset+length) in chunks; StoreNotFound if there is no data."""

    @abc.abstractmethod
    def delete(self, image_id: str) -> None:
        """Remove the data; no error if there is none."""

    @abc.abstractmethod
    def size(self, image_id: str) -> int:
        """Stored size in bytes; StoreNotFound if there is no data."""

    @abc.abstractmethod
    def ids(self) -> list[str]:
        """Every image id with committed data."""

    def cleanup(self) -> int:
        """Remove data of writes that never committed (after a crash); returns how many."""
        return 0

    def path(self, image_id: str) -> Path | None:
        """The local file holding the data, for stores that have one."""
        return None

    def open(self, image_id: str) -> BinaryIO | None:
        """The local file holding the data opened for reading (the server sends it from there), for
        stores that have one; StoreNotFound if there is no data."""
        return None

    def exists(self, image_id: str) -> bool:
        try:
            self.size(image_id)
        except StoreNotFound:
            return False
        return True

    def add(self, image_id: str, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` under ``image_id`` (replacing nothing: ids are new); returns the size."""
        writer = self.writer(image_id)
        try:
            for chunk in chunks:
                if chunk:
                    writer.write(chunk)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return writer.written
