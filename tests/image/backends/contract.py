"""The store contract: every ImageStore (fake and real) passes these tests.

A subclass provides the ``store`` fixture; tests skip nothing: the interface is small.
"""

from __future__ import annotations

import os
import uuid

import pytest

from onestack.image.backends import ImageStore, StoreFull, StoreNotFound


def new_id() -> str:
    return str(uuid.uuid4())


class StoreContract:
    @pytest.fixture
    def store(self) -> ImageStore:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_add_get_image_data(self, store):
        data = os.urandom(3 * (1 << 20) + 17)
        image_id = new_id()
        assert store.add(image_id, [data[:1000], data[1000:]]) == len(data)
        assert b"".join(store.get(image_id)) == data
        assert store.size(image_id) == len(data)
        assert store.exists(image_id)
        assert image_id in store.ids()

    def test_get_image_data_range(self, store):
        image_id = new_id()
        store.add(image_id, [bytes(range(256)) * 10])
        assert b"".join(store.get(image_id, offset=10, length=5)) == bytes(range(10, 15))
        assert b"".join(store.get(image_id, offset=2550)) == bytes(range(246, 256))
        chunks = list(store.get(image_id, chunk_size=1000))
        assert [len(c) for c in chunks] == [1000, 1000, 560]

    def test_get_missing_image_not_found(self, store):
        with pytest.raises(StoreNotFound):
            store.get(new_id())
        with pytest.raises(StoreNotFound):
            store.size(new_id())
        assert not store.exists(new_id())

    def test_delete_image_data_idempotent(self, store):
        image_id = new_id()
        store.add(image_id, [b"abc"])
        store.delete(image_id)
        store.delete(image_id)
        assert not store.exists(image_id)
        assert image_id not in store.ids()

    def test_add_empty_image_data(self, store):
        image_id = new_id()
        assert store.add(image_id, []) == 0
        assert b"".join(store.get(image_id)) == b""

    def test_writer_invisible_until_commit(self, store):
        image_id = new_id()
        writer = store.writer(image_id)
        writer.write(b"partial")
        assert not store.exists(image_id)
        writer.commit()
        assert b"".join(store.get(image_id)) == b"partial"

    def test_writelines_many_buffers_in_order(self, store):
        parts = [bytes([i % 251]) * (i % 7) for i in range(3000)]  # more buffers than IOV_MAX, some empty
        image_id = new_id()
        writer = store.writer(image_id)
        writer.writelines(parts)
        writer.writelines([])
        writer.commit()
        assert b"".join(store.get(image_id)) == b"".join(parts)
        assert writer.written == sum(len(p) for p in parts)

    def test_writer_abort_leaves_nothing(self, store):
        image_id = new_id()
        writer = store.writer(image_id)
        writer.write(b"partial")
        writer.abort()
        writer.abort()
        assert not store.exists(image_id)
        assert store.cleanup() == 0

    def test_add_failure_leaves_nothing(self, store):
        image_id = new_id()

        def chunks():
            yield b"first"
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError):
            store.add(image_id, chunks())
        assert not store.exists(image_id)
        assert store.cleanup() == 0

    def test_cleanup_removes_uncommitted_writes(self, store):
        writer = store.writer(new_id())
        writer.write(b"crash in the middle")
        assert store.cleanup() == 1
        assert store.cleanup() == 0

    def test_full_store_raises_store_full(self, full_store):
        image_id = new_id()
        with pytest.raises(StoreFull):
            full_store.add(image_id, [b"x" * 600, b"x" * 600])
        assert not full_store.exists(image_id)
        assert full_store.cleanup() == 0
