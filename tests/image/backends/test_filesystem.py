"""The filesystem store passes the contract; a full disk is a real, tiny tmpfs when we may mount one."""

import os
import subprocess

import pytest

from onestack.image.backends import FilesystemImageStore

from .contract import StoreContract, new_id


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


class TestFilesystemStore(StoreContract):
    @pytest.fixture(params=[True, False], ids=["direct", "buffered"])
    def store(self, tmp_path, request):
        return FilesystemImageStore(tmp_path / "images", direct=request.param)

    def test_large_odd_sized_writes_round_trip(self, store):
        data = os.urandom(9 * (1 << 20) + 4095)
        cuts = [0, 1, 4097, 65536 * 3 + 5, 4 << 20, (4 << 20) + 1, 8 << 20, len(data)]
        image_id = new_id()
        writer = store.writer(image_id)
        for a, b in zip(cuts, cuts[1:], strict=False):
            writer.writelines([data[a:b]])
        writer.commit()
        assert store.size(image_id) == len(data) and writer.written == len(data)
        assert b"".join(store.get(image_id)) == data
        for offset, length in ((1, 5 << 20), (4095, 4097), ((1 << 20) - 1, None), (len(data) - 3, 10)):
            end = None if length is None else offset + length
            assert b"".join(store.get(image_id, offset, length)) == data[offset:end]

    @pytest.fixture
    def full_store(self, tiny_fs):
        return FilesystemImageStore(tiny_fs / "images")

    def test_full_store_raises_store_full(self, tiny_fs):
        from onestack.image.backends import StoreFull

        store = FilesystemImageStore(tiny_fs / "images")
        image_id = new_id()
        with pytest.raises(StoreFull):
            store.add(image_id, [b"x" * 65536] * 4)
        assert not store.exists(image_id)
        assert store.cleanup() == 0

    def test_store_survives_restart(self, tmp_path):
        image_id = new_id()
        FilesystemImageStore(tmp_path / "images").add(image_id, [b"kept"])
        again = FilesystemImageStore(tmp_path / "images")
        assert b"".join(again.get(image_id)) == b"kept"
        assert again.path(image_id) == tmp_path / "images" / image_id

    def test_path_of_missing_image_none(self, store):
        assert store.path(new_id()) is None

    def test_invalid_id_rejected(self, store):
        from onestack.image.backends import StoreError

        with pytest.raises(StoreError):
            store.writer("../escape")
