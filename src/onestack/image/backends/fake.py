"""An in-memory store with the filesystem store's semantics, and a capacity to simulate a full disk."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from .base import CHUNK, ImageStore, StoreError, StoreFull, StoreNotFound, StoreWriter


class FakeWriter(StoreWriter):
    def __init__(self, store: FakeImageStore, image_id: str) -> None:
        self.store = store
        self.image_id = image_id
        self.buf = bytearray()
        self.written = 0
        self.closed = False
        with store.lock:
            store.partial[id(self)] = self.buf

    def write(self, data: bytes) -> None:
        if self.closed:
            raise StoreError("writer is closed")
        with self.store.lock:
            if self.store.capacity is not None and self.store.used() + len(data) > self.store.capacity:
                full = True
            else:
                full = False
                self.buf += data
                self.written += len(data)
        if full:
            self.abort()
            raise StoreFull("No space left on the fake store")

    def commit(self) -> None:
        if self.closed:
            raise StoreError("writer is closed")
        with self.store.lock:
            self.store.partial.pop(id(self), None)
            self.store.blobs[self.image_id] = bytes(self.buf)
        self.closed = True

    def abort(self) -> None:
        with self.store.lock:
            self.store.partial.pop(id(self), None)
        self.closed = True


class FakeImageStore(ImageStore):
    type = "fake"

    def __init__(self, id: str = "fake", description: str = "In-memory store", capacity: int | None = None) -> None:
        self.id = id
        self.description = description
        self.capacity = capacity
        self.blobs: dict[str, bytes] = {}
        self.partial: dict[int, bytearray] = {}
        self.lock = threading.Lock()

    def used(self) -> int:
        return sum(len(b) for b in self.blobs.values()) + sum(len(b) for b in self.partial.values())

    def writer(self, image_id: str) -> FakeWriter:
        return FakeWriter(self, image_id)

    def size(self, image_id: str) -> int:
        try:
            return len(self.blobs[image_id])
        except KeyError:
            raise StoreNotFound(image_id) from None

    def get(self, image_id: str, offset: int = 0, length: int | None = None,
            chunk_size: int = CHUNK) -> Iterator[bytes]:
        try:
            blob = self.blobs[image_id]
        except KeyError:
            raise StoreNotFound(image_id) from None
        end = len(blob) if length is None else min(len(blob), offset + length)
        return (blob[i:min(i + chunk_size, end)] for i in range(offset, end, chunk_size))

    def delete(self, image_id: str) -> None:
        with self.lock:
            self.blobs.pop(image_id, None)

    def ids(self) -> list[str]:
        return sorted(self.blobs)

    def cleanup(self) -> int:
        with self.lock:
            n = len(self.partial)
            self.partial.clear()
        return n
