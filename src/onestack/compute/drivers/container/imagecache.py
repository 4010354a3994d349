"""Per-host image cache (as Nova's image cache on hypervisors): each image is downloaded once,
verified against its ``os_hash_value``, inspected (``rootfs.inspect_image``), turned into a read-only
lower layer shared by every guest booted from it, and evicted once unused past ``max_unused_age``.

Layout under ``root``::

    <image_id>/meta.json     id, kind, formats, checksum, size, last_used
    <image_id>/rootfs/       tarball images: the extracted tree (the lower layer)
    <image_id>/disk.raw      filesystem images: the raw file (qcow2 converted) ...
    <image_id>/mnt/          ... loop-mounted read-only here (the lower layer; not with ``mount=False``,
                             where QEMU uses disk.raw as the backing file of its overlays)
    <image_id>/users/<name>  one marker per guest using it (survives restarts)
    <image_id>.lock          flock: one download per image, across threads and processes

An entry appears only when complete (built in a temporary directory, then renamed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import rootfs
from .errors import ContainerError
from .overlay import is_mounted, mounts_below
from .rootfs import ImageError, ImageKind

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# last_used is rewritten at most this often per image (each rewrite is a new file: every boot wrote two)
TOUCH_INTERVAL = 60.0


def file_chunks(path: str) -> Callable[[], Iterable[bytes]]:
    """A fetch function over a local copy of an image (the agent already downloaded it)."""
    def read() -> Iterable[bytes]:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                yield block
    return read


class ChecksumMismatch(ImageError):
    pass


@dataclass(frozen=True)
class CachedImage:
    image_id: str
    kind: str
    size: int
    last_used: float
    users: tuple[str, ...]
    lower: Path


class ImageCache:
    def __init__(self, root: Path, max_unused_age: float = 24 * 3600.0,
                 max_extract_bytes: int = 16 << 30, mount: bool = True) -> None:
        self.root = Path(root)
        self.mount = mount
        self.max_unused_age = max_unused_age
        self.max_extract_bytes = max_extract_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._touched: dict[str, float] = {}  # image id -> when this process last wrote its last_used

    def _entry(self, image_id: str) -> Path:
        if not ID_RE.match(image_id):
            raise ImageError(f"bad image id {image_id!r}")
        return self.root / image_id

    @contextlib.contextmanager
    def _locked(self, image_id: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(image_id, threading.Lock())
        with lock, open(self.root / f"{image_id}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ use

    def ensure(self, image_id: str, *, disk_format: str, container_format: str, checksum: str | None,
               fetch: Callable[[], Iterable[bytes]], hash_algo: str = "sha512") -> Path:
        """The lower layer of ``image_id``, downloading and preparing it the first time."""
        entry = self._entry(image_id)
        with self._locked(image_id):
            if (entry / "meta.json").exists():
                self._mount(entry)
                self._touch(entry)
                return self._lower(entry)
            self._build(entry, image_id, disk_format, container_format, checksum, fetch, hash_algo)
            self._mount(entry)
            return self._lower(entry)

    def acquire(self, image_id: str, user: str) -> None:
        entry = self._entry(image_id)
        marker = entry / "users" / user
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        except FileNotFoundError:
            (entry / "users").mkdir(exist_ok=True)
            marker.touch()
        self._touch(entry)

    def release(self, image_id: str, user: str) -> None:
        entry = self._entry(image_id)
        with contextlib.suppress(FileNotFoundError):
            (entry / "users" / user).unlink()
        if entry.exists():
            self._touch(entry)

    def used_by(self, user: str) -> list[str]:
        """The ids of the cached images ``user`` holds (acquired and not released)."""
        return sorted(e.name for e in self.root.iterdir()
                      if ID_RE.match(e.name) and os.path.exists(e / "users" / user))

    def lower(self, image_id: str) -> Path | None:
        """The lower layer if cached (remounting it after a host reboot), else None."""
        entry = self._entry(image_id)
        if not (entry / "meta.json").exists():
            return None
        with self._locked(image_id):
            self._mount(entry)
        return self._lower(entry)

    def data(self, image_id: str) -> Path:
        """The cached image file (``disk.raw``: a raw disk, kernel or initramfs) of an ``ensure``-d image."""
        return self._entry(image_id) / "disk.raw"

    def list(self) -> list[CachedImage]:
        out = []
        for meta_file in sorted(self.root.glob("*/meta.json")):
            entry = meta_file.parent
            meta = json.loads(meta_file.read_text())
            users = tuple(sorted(p.name for p in (entry / "users").iterdir())) if (entry / "users").exists() else ()
            out.append(CachedImage(meta["id"], meta["kind"], meta["size"], meta["last_used"], users,
                                   self._lower(entry)))
        return out

    def prune(self, now: float | None = None, max_unused_age: float | None = None) -> list[str]:
        """Remove images no guest uses and nobody used for ``max_unused_age`` seconds."""
        now = time.time() if now is None else now
        age = self.max_unused_age if max_unused_age is None else max_unused_age
        removed = []
        for img in self.list():
            if img.users or now - img.last_used < age:
                continue
            with self._locked(img.image_id):
                entry = self._entry(img.image_id)
                if (entry / "users").exists() and any((entry / "users").iterdir()):
                    continue
                self._remove(entry)
            with contextlib.suppress(FileNotFoundError):
                (self.root / f"{img.image_id}.lock").unlink()
            removed.append(img.image_id)
        for lock in self.root.glob("*.lock"):  # left by a download that failed (bad checksum or content)
            image_id = lock.name.removesuffix(".lock")
            if ID_RE.match(image_id) and not (self.root / image_id).exists():
                with contextlib.suppress(OSError), open(lock, "a") as f:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # not while a download holds it
                    if not (self.root / image_id).exists():
                        lock.unlink()
        return removed

    def clear(self) -> None:
        """Remove every cached image, used or not (operator reset, tests)."""
        for img in self.list():
            self._remove(self._entry(img.image_id))
        for p in self.root.iterdir():
            if p.name.startswith(".") and p.is_dir() and not mounts_below(p):
                shutil.rmtree(p, ignore_errors=True)
            elif p.suffix == ".lock":
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ internals

    def _lower(self, entry: Path) -> Path:
        return entry / ("rootfs" if (entry / "rootfs").exists() else "mnt")

    def _touch(self, entry: Path) -> None:
        """Record a use now: the entry's last_used, up to TOUCH_INTERVAL behind (prune ages are hours)."""
        now = time.monotonic()
        last = self._touched.get(entry.name)
        if last is not None and now - last < TOUCH_INTERVAL:
            return
        self._touched[entry.name] = now
        meta = json.loads((entry / "meta.json").read_text())
        meta["last_used"] = time.time()
        tmp = entry / f"meta.json.{os.getpid()}.{threading.get_ident()}"  # concurrent touches: own temp file
        tmp.write_text(json.dumps(meta))
        tmp.replace(entry / "meta.json")

    def _build(self, entry: Path, image_id: str, disk_format: str, container_format: str, checksum: str | None,
               fetch: Callable[[], Iterable[bytes]], hash_algo: str) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{image_id}-", dir=self.root))
        try:
            data = tmp / "download"
            try:
                h = hashlib.new(hash_algo)
            except ValueError:
                raise ImageError(f"unknown os_hash_algo {hash_algo!r}") from None
            size = 0
            with open(data, "wb") as f:
                for chunk in fetch():
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
            if checksum and h.hexdigest() != checksum.lower():
                raise ChecksumMismatch(f"image {image_id} data does not match its {hash_algo} os_hash_value")
            info = rootfs.inspect_image(data, disk_format, container_format)
            if info.kind is ImageKind.TARBALL:
                (tmp / "rootfs").mkdir(mode=0o755)
                rootfs.extract_tarball(data, tmp / "rootfs", max_bytes=self.max_extract_bytes)
                data.unlink()
            elif info.kind is ImageKind.QCOW2:
                rootfs.qcow2_to_raw(data, tmp / "disk.raw")
                data.unlink()
                rootfs.filesystem_offset(tmp / "disk.raw")
            else:
                data.rename(tmp / "disk.raw")
            (tmp / "users").mkdir()
            meta = {"id": image_id, "kind": info.kind.value, "detected": info.detected, "disk_format": disk_format,
                    "container_format": container_format, "checksum": checksum, "size": size,
                    "last_used": time.time()}
            (tmp / "meta.json").write_text(json.dumps(meta))
            tmp.chmod(0o755)
            tmp.rename(entry)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _mount(self, entry: Path) -> None:
        raw = entry / "disk.raw"
        if not raw.exists() or not self.mount:
            return
        mnt = entry / "mnt"
        mnt.mkdir(exist_ok=True)
        if is_mounted(mnt):
            return
        fstype, offset = rootfs.filesystem_offset(raw)
        opts = f"ro,loop,nodev,offset={offset}" + (",noload" if fstype == "ext4" else "")
        r = subprocess.run(["mount", "-t", fstype, "-o", opts, str(raw), str(mnt)], capture_output=True, text=True)
        if r.returncode != 0:
            raise ImageError(f"the image's filesystem cannot be mounted: {r.stderr.strip()[-300:]}")

    def _remove(self, entry: Path) -> None:
        for mp in mounts_below(entry):
            r = subprocess.run(["umount", mp], capture_output=True, text=True)
            if r.returncode != 0:
                raise ContainerError(f"cannot unmount cached image {mp}: {r.stderr.strip()}")
        shutil.rmtree(entry)
