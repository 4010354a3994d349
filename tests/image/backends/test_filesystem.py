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
    @pytest.fixture
    def store(self, tmp_path):
        return FilesystemImageStore(tmp_path / "images")

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
