"""The filesystem store: one file per image under the data dir, written atomically.

Data is written to ``<root>/.partial/<id>.<random>``, fsynced and renamed to ``<root>/<id>`` (then
the directory is fsynced), so a file under its final name is always complete.  ``cleanup`` removes
partial files a crash left behind; it runs when the service starts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from .base import CHUNK, ImageStore, StoreError, StoreFull, StoreNotFound, StoreWriter

_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)


def _check_id(image_id: str) -> str:
    if not _ID.match(image_id):
        raise StoreError(f"invalid image id {image_id!r}")
    return image_id


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemWriter(StoreWriter):
    def __init__(self, store: FilesystemImageStore, image_id: str) -> None:
        self.final = store.root / image_id
        self.tmp = store.partial / f"{image_id}.{secrets.token_hex(6)}"
        self.fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.written = 0
        self.done = False

    def write(self, data: bytes) -> None:
        self.writelines((data,))

    def writelines(self, parts: Iterable[bytes]) -> None:
        """``writev`` of up to IOV_MAX buffers at a time: no joining copy, one system call per batch."""
        if self.fd is None:
            raise StoreError("writer is closed")
        pending = [memoryview(p) for p in parts if p]
        try:
            while pending:
                batch = pending[:_IOV_MAX]
                n = os.writev(self.fd, batch)
                self.written += n
                done = 0
                while done < len(batch) and n >= len(batch[done]):
                    n -= len(batch[done])
                    done += 1
                pending = pending[done:]
                if n:  # a short write stopped inside a buffer
                    pending[0] = pending[0][n:]
        except OSError as exc:
            self.abort()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(str(exc)) from exc
            raise StoreError(str(exc)) from exc

    def commit(self) -> None:
        if self.fd is None:
            raise StoreError("writer is closed")
        try:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None
            os.rename(self.tmp, self.final)
            self.done = True
            _fsync_dir(self.final.parent)
        except OSError as exc:
            self.abort()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(str(exc)) from exc
            raise StoreError(str(exc)) from exc

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self.done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)


class FilesystemImageStore(ImageStore):
    type = "file"

    def __init__(self, root: str | os.PathLike, id: str = "file",
                 description: str = "Filesystem store in the data directory") -> None:
        self.root = Path(root)
        self.partial = self.root / ".partial"
        self.id = id
        self.description = description
        self.partial.mkdir(parents=True, exist_ok=True)

    def writer(self, image_id: str) -> FilesystemWriter:
        return FilesystemWriter(self, _check_id(image_id))

    def path(self, image_id: str) -> Path | None:
        path = self.root / _check_id(image_id)
        return path if path.is_file() else None

    def size(self, image_id: str) -> int:
        try:
            return (self.root / _check_id(image_id)).stat().st_size
        except FileNotFoundError:
            raise StoreNotFound(image_id) from None

    def get(self, image_id: str, offset: int = 0, length: int | None = None,
            chunk_size: int = CHUNK) -> Iterator[bytes]:
        try:
            fh = open(self.root / _check_id(image_id), "rb", buffering=0)  # noqa: SIM115 (closed by the generator)
        except FileNotFoundError:
            raise StoreNotFound(image_id) from None
        return self._read(fh, offset, length, chunk_size)

    @staticmethod
    def _read(fh, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
        with fh:
            if offset:
                fh.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                want = chunk_size if remaining is None else min(chunk_size, remaining)
                data = fh.read(want)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def delete(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.root / _check_id(image_id))

    def ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_file() and _ID.match(p.name))

    def cleanup(self) -> int:
        removed = 0
        for path in self.partial.iterdir():
            try:
                path.unlink()
                removed += 1
            except (FileNotFoundError, IsADirectoryError):
                pass
        return removed
