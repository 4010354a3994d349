"""The filesystem store: one file per image under the data dir, written atomically.

Data is written to ``<root>/.partial/<id>.<random>``, fsynced and renamed to ``<root>/<id>`` (then
the directory is fsynced), so a file under its final name is always complete.  ``cleanup`` removes
partial files a crash left behind; it runs when the service starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .base import CHUNK, ImageStore, StoreError, StoreFull, StoreNotFound, StoreWriter

_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_ALIGN = 4096  # direct I/O offsets, lengths and buffer addresses are multiples of the block size
_DIRECT_BUFFER = 4 << 20


def _aligned(view: memoryview) -> bool:
    """Whether ``view`` is writable memory starting on an ``_ALIGN`` boundary and at least that long."""
    if view.readonly or len(view) < _ALIGN or not view.contiguous:
        return False
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(view)) % _ALIGN == 0
    except (TypeError, ValueError):
        return False


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
    """Writes with O_DIRECT through one page-aligned buffer where the filesystem allows it.

    Why: on a buffered write the kernel copies every byte into freshly allocated page-cache pages,
    which costs as much CPU as md5 (more in a VM), and an image just uploaded is rarely read back at
    once.  Direct writes of whole aligned buffers skip that copy; the unaligned end of the file is
    written buffered at commit.  Filesystems without O_DIRECT get plain ``writev``.
    """

    def __init__(self, store: FilesystemImageStore, image_id: str) -> None:
        self.final = store.root / image_id
        self.tmp = store.partial / f"{image_id}.{secrets.token_hex(6)}"
        self.fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.written = 0
        self.done = False
        self.buf: mmap.mmap | None = None  # the aligned buffer while writing direct
        self.fill = 0
        if store.direct and _O_DIRECT:
            try:
                fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) | _O_DIRECT)
                self.buf = mmap.mmap(-1, _DIRECT_BUFFER)
            except OSError:
                self.buf = None

    def write(self, data: bytes) -> None:
        self.writelines((data,))

    def writelines(self, parts: Iterable[bytes]) -> None:
        if self.fd is None:
            raise StoreError("writer is closed")
        try:
            if self.buf is not None:
                self._buffer(parts)
            else:
                self._writev([memoryview(p) for p in parts if p])
        except OSError as exc:
            self.abort()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(str(exc)) from exc
            raise StoreError(str(exc)) from exc

    def _writev(self, pending: list[memoryview]) -> None:
        """``writev`` of up to IOV_MAX buffers at a time: no joining copy, one system call per batch."""
        assert self.fd is not None
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

    def _buffer(self, parts: Iterable[bytes]) -> None:
        assert self.buf is not None
        for part in parts:
            with memoryview(part) as view:
                offset = 0
                if self.fill == 0 and _aligned(view):
                    # the caller's buffer is page aligned (a streaming upload's blocks): write its
                    # whole pages from there, copying only an unaligned end
                    offset = len(view) - len(view) % _ALIGN
                    self._write_direct(view[:offset])
                while offset < len(view):
                    n = min(len(view) - offset, _DIRECT_BUFFER - self.fill)
                    self.buf[self.fill:self.fill + n] = view[offset:offset + n]
                    self.fill += n
                    offset += n
                    if self.fill == _DIRECT_BUFFER:
                        self._flush(_DIRECT_BUFFER)

    def _flush(self, length: int) -> None:
        """Write the first ``length`` (aligned) bytes of the buffer direct; keep what follows."""
        assert self.buf is not None
        with memoryview(self.buf) as view:
            self._write_direct(view[:length])
            rest = self.fill - length
            if rest:
                view[:rest] = view[length:self.fill]
        self.fill -= length

    def _write_direct(self, view: memoryview) -> None:
        """Write whole pages from page-aligned memory at an aligned offset."""
        assert self.fd is not None
        done = 0
        while done < len(view):
            try:
                done += os.write(self.fd, view[done:])
            except OSError as exc:
                if exc.errno != errno.EINVAL or self.written or done:
                    raise
                self._buffered()  # the filesystem refuses O_DIRECT after all
        self.written += len(view)

    def _buffered(self) -> None:
        assert self.fd is not None
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)

    def _drain(self) -> None:
        """The end of the data: aligned part direct, the tail buffered."""
        if self.buf is None:
            return
        aligned = self.fill - self.fill % _ALIGN
        if aligned:
            self._flush(aligned)
        if self.fill:
            self._buffered()
            with memoryview(self.buf) as view:
                self._writev([view[:self.fill]])
            self.fill = 0
        self.buf.close()
        self.buf = None

    def commit(self) -> None:
        if self.fd is None:
            raise StoreError("writer is closed")
        try:
            self._drain()
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
        if self.buf is not None:
            with contextlib.suppress(BufferError):  # a view of it is still held by a traceback: GC frees it
                self.buf.close()
            self.buf = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self.done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)


class FilesystemImageStore(ImageStore):
    type = "file"

    def __init__(self, root: str | os.PathLike, id: str = "file",
                 description: str = "Filesystem store in the data directory", direct: bool = True) -> None:
        self.root = Path(root)
        self.direct = direct  # write with O_DIRECT where the filesystem supports it
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

    def open(self, image_id: str) -> BinaryIO:
        path = self.root / _check_id(image_id)
        if self.direct and _O_DIRECT:
            try:  # read past the page cache, as written (see get)
                return open(os.open(path, os.O_RDONLY | _O_DIRECT), "rb", buffering=0)
            except FileNotFoundError:
                raise StoreNotFound(image_id) from None
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        try:
            return open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise StoreNotFound(image_id) from None

    def get(self, image_id: str, offset: int = 0, length: int | None = None,
            chunk_size: int = CHUNK) -> Iterator[bytes]:
        path = self.root / _check_id(image_id)
        if self.direct and _O_DIRECT and chunk_size % _ALIGN == 0:
            # Images are written direct, so their pages are rarely cached: reading them through the
            # page cache would allocate (and in a VM fault in) a page per 4 KiB for nothing.
            try:
                return self._read_direct(os.open(path, os.O_RDONLY | _O_DIRECT), offset, length, chunk_size)
            except FileNotFoundError:
                raise StoreNotFound(image_id) from None
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        try:
            fh = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the generator)
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

    @staticmethod
    def _read_direct(fd: int, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
        """Aligned reads into one page-aligned buffer; yields the wanted bytes of each."""
        buf = mmap.mmap(-1, chunk_size)
        try:
            position = offset - offset % _ALIGN
            skip = offset - position
            remaining = length
            while remaining is None or remaining > 0:
                n = os.preadv(fd, [buf], position)
                if n <= skip:
                    return
                end = n if remaining is None else min(n, skip + remaining)
                data = buf[skip:end]
                position += n
                skip = 0
                if remaining is not None:
                    remaining -= len(data)
                yield data
                if n % _ALIGN:
                    return  # the end of the file (a short aligned read is followed by one returning 0)
        finally:
            buf.close()
            os.close(fd)

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
