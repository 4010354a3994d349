import pytest

from onestack.image.backends import FakeImageStore

from .contract import StoreContract


class TestFakeStore(StoreContract):
    @pytest.fixture
    def store(self):
        return FakeImageStore()

    @pytest.fixture
    def full_store(self):
        return FakeImageStore(capacity=1000)
