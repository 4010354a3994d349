"""Image data stores: where image bytes live.  ``STORES`` maps store type names to classes."""

from .base import ImageStore, StoreError, StoreFull, StoreNotFound, StoreWriter
from .fake import FakeImageStore
from .filesystem import FilesystemImageStore

STORES: dict[str, type[ImageStore]] = {"file": FilesystemImageStore, "fake": FakeImageStore}

__all__ = ["STORES", "FakeImageStore", "FilesystemImageStore", "ImageStore", "StoreError", "StoreFull",
           "StoreNotFound", "StoreWriter"]
