"""Untrusted image content: safe root-filesystem tarball extraction and disk image inspection.

Images come from users, so nothing in them is trusted:

* ``extract_tarball`` writes a tar archive (plain, gzip, bzip2 or xz) into an empty directory without
  ever following a link: every path is resolved component by component through directory file
  descriptors opened with ``O_NOFOLLOW``. It refuses absolute member names, ``..`` components, paths
  that traverse a symlink, symlinks whose target climbs above the tree's root, hard links to anything
  but a regular file already in the tree, and archives larger than a byte/member budget. Device nodes
  and FIFOs are never created (they are skipped and reported). Ownership and permission bits (setuid
  included) are kept: this is a root filesystem, not a user download.
* ``inspect_image`` sniffs the first bytes of an image and refuses it when its content does not match
  the declared ``disk_format``/``container_format``, and refuses qcow2 files with a backing file or an
  external data file (the host-file disclosure that upstream's format inspector closes,
  CVE-2024-32498) — checked twice: our own header parser and ``qemu-img info -f qcow2`` (never
  letting qemu-img probe the format).

Supported image formats for the container driver (see ``ImageKind``):

=========================  ==================  ===============================================
disk_format                container_format    content
=========================  ==================  ===============================================
``raw``                    ``compressed``      root filesystem tarball (tar, tar.gz/bz2/xz)
``raw``                    ``bare``            one ext2/3/4 or squashfs filesystem, either the
                                               whole file or the only partition of an MBR/GPT disk
``qcow2``                  ``bare``            the same, in a standalone qcow2 (converted to raw)
``aki`` / ``ari``          ``aki`` / ``ari``   a kernel / an initramfs for direct boot (QEMU driver)
=========================  ==================  ===============================================
"""

from __future__ import annotations

import bz2
import enum
import gzip
import json
import lzma
import os
import stat
import struct
import subprocess
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import ContainerError


class ImageError(ContainerError):
    """The image is unusable or unsafe; the message says why (shown to the user as the fault)."""


class UnsafeArchive(ImageError):
    pass


class FormatMismatch(ImageError):
    pass


# --------------------------------------------------------------------------- tarballs


@dataclass
class ExtractReport:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # device nodes, FIFOs: never created


def _member_parts(name: str) -> list[str]:
    """The path components of a member name; refuses absolute names and ``..``."""
    if name.startswith("/"):
        raise UnsafeArchive(f"absolute path in archive: {name!r}")
    if "\x00" in name:
        raise UnsafeArchive("NUL byte in archive member name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"'..' in archive member name: {name!r}")
    return parts


def _symlink_stays_inside(link_parts: list[str], target: str) -> bool:
    """Whether a symlink at ``link_parts`` pointing to ``target`` resolves (lexically, as inside the
    guest's root) without climbing above the root. Absolute targets are relative to the guest root."""
    if not target or "\x00" in target:
        return False
    depth = [] if target.startswith("/") else list(link_parts[:-1])
    for comp in target.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not depth:
                return False
            depth.pop()
        else:
            depth.append(comp)
    return True


class _Tree:
    """Directory file descriptors below one root, opened without following symlinks."""

    def __init__(self, root: Path) -> None:
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        self._fds: dict[tuple[str, ...], int] = {(): self.root_fd}

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def forget(self, parts: tuple[str, ...]) -> None:
        for key in [k for k in self._fds if k[: len(parts)] == parts and k]:
            os.close(self._fds.pop(key))

    def dir_fd(self, parts: tuple[str, ...], create: bool = True) -> int:
        """The fd of directory ``parts``, creating missing directories; refuses symlinks and non-dirs."""
        fd = self._fds.get(parts)
        if fd is not None:
            return fd
        parent = self.dir_fd(parts[:-1], create)
        name = parts[-1]
        try:
            st = os.lstat(name, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=parent)
            st = os.lstat(name, dir_fd=parent)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeArchive(f"archive path goes through a symlink: {'/'.join(parts)!r}")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"archive path goes through a non-directory: {'/'.join(parts)!r}")
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        self._fds[parts] = fd
        return fd


def _remove_existing(parent_fd: int, name: str, keep_dir: bool) -> bool:
    """Tar semantics: a later member replaces an earlier one. Returns True when a directory is kept."""
    try:
        st = os.lstat(name, dir_fd=parent_fd)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return True
        raise UnsafeArchive(f"archive replaces a directory with a non-directory: {name!r}")
    os.unlink(name, dir_fd=parent_fd)
    return False


def _open_archive(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def extract_tarball(archive: Path, dest: Path, *, max_bytes: int = 16 << 30, max_members: int = 2_000_000,
                    preserve_owner: bool = True) -> ExtractReport:
    """Extract ``archive`` into the existing, empty directory ``dest`` (see the module docstring)."""
    report = ExtractReport()
    tree = _Tree(dest)
    try:
        with _open_archive(archive) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > max_members:
                    raise UnsafeArchive(f"archive has more than {max_members} members")
                _extract_member(tar, member, tree, report, max_bytes, preserve_owner)
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise UnsafeArchive(f"not a valid tar archive: {exc}") from None
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error (disk full, ...), not a decoder's complaint
            raise
        raise UnsafeArchive(f"not a valid tar archive: {exc}") from None
    finally:
        tree.close()
    return report


def _extract_member(tar: tarfile.TarFile, m: tarfile.TarInfo, tree: _Tree, report: ExtractReport,
                    max_bytes: int, preserve_owner: bool) -> None:
    parts = _member_parts(m.name)
    if not parts:  # the root itself ("./"): keep our own root's mode and owner
        return
    if m.ischr() or m.isblk() or m.isfifo():
        report.skipped.append("/".join(parts))
        return
    parent = tree.dir_fd(tuple(parts[:-1]))
    name = parts[-1]
    mode = m.mode & 0o7777
    if m.isdir():
        if not _remove_existing(parent, name, keep_dir=True):
            os.mkdir(name, 0o700, dir_fd=parent)
        fd = tree.dir_fd(tuple(parts))
        if preserve_owner:
            os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, mode)
        report.dirs += 1
    elif m.isreg():
        report.bytes += m.size
        if report.bytes > max_bytes:
            raise UnsafeArchive(f"archive expands to more than {max_bytes} bytes")
        _remove_existing(parent, name, keep_dir=False)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=parent)
        try:
            src = tar.extractfile(m)
            if src is not None:
                while chunk := src.read(1 << 20):
                    os.write(fd, chunk)
            if preserve_owner:
                os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, mode)  # after chown: chown clears setuid bits
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)
        report.files += 1
    elif m.issym():
        if not _symlink_stays_inside(parts, m.linkname):
            raise UnsafeArchive(f"symlink points out of the tree: {'/'.join(parts)!r} -> {m.linkname!r}")
        _remove_existing(parent, name, keep_dir=False)
        os.symlink(m.linkname, name, dir_fd=parent)
        if preserve_owner:
            os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        report.symlinks += 1
    elif m.islnk():
        try:
            target = _member_parts(m.linkname)
        except UnsafeArchive:
            raise UnsafeArchive(f"hard link points out of the tree: {m.name!r} -> {m.linkname!r}") from None
        if not target:
            raise UnsafeArchive(f"hard link to the root: {m.name!r}")
        try:
            src_parent = tree.dir_fd(tuple(target[:-1]), create=False)
            st = os.lstat(target[-1], dir_fd=src_parent)
        except FileNotFoundError:
            raise UnsafeArchive(f"hard link to a missing member: {m.name!r} -> {m.linkname!r}") from None
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeArchive(f"hard link to something other than a regular file: {m.name!r}")
        _remove_existing(parent, name, keep_dir=False)
        os.link(target[-1], name, src_dir_fd=src_parent, dst_dir_fd=parent, follow_symlinks=False)
        report.hardlinks += 1
    else:
        report.skipped.append("/".join(parts))


# --------------------------------------------------------------------------- disk images


class ImageKind(enum.Enum):
    TARBALL = "tarball"  # raw + compressed: a root filesystem archive
    FILESYSTEM = "filesystem"  # raw + bare: a filesystem (or one-partition disk)
    QCOW2 = "qcow2"  # qcow2 + bare: a standalone qcow2 holding the same
    BOOT = "boot"  # aki/ari: a kernel or initramfs handed to QEMU's -kernel/-initrd, never mounted


@dataclass(frozen=True)
class Inspection:
    kind: ImageKind
    detected: str  # what the bytes are: tar, gzip, ext4, squashfs, mbr, gpt, qcow2, ...
    virtual_size: int


def sniff(path: Path) -> str:
    """What the bytes are, by magic numbers; ``unknown`` when nothing matches."""
    with open(path, "rb") as f:
        head = f.read(65536)
        size = os.fstat(f.fileno()).st_size
        tail = b""
        if size >= 512:
            f.seek(size - 512)
            tail = f.read(512)
    if head.startswith(b"QFI\xfb"):
        return "qcow2"
    if head.startswith(b"QFI\x00"):
        return "qed"
    if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk"
    if head.startswith(b"vhdxfile"):
        return "vhdx"
    if head.startswith(b"conectix") or tail.startswith(b"conectix"):
        return "vhd"
    if len(head) >= 0x44 and struct.unpack_from("<I", head, 0x40)[0] == 0xBEDA107F:
        return "vdi"
    if head.startswith(b"LUKS\xba\xbe"):
        return "luks"
    if head[0x8001:0x8006] == b"CD001":
        return "iso"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head[257:262] == b"ustar":
        return "tar"
    fs = _filesystem_at(head, 0)
    if fs:
        return fs
    if head[512:520] == b"EFI PART":
        return "gpt"
    if head[510:512] == b"\x55\xaa":
        return "mbr"
    return "unknown"


def _filesystem_at(buf: bytes, off: int) -> str | None:
    if buf[off : off + 4] == b"hsqs":
        return "squashfs"
    if len(buf) >= off + 1082 and buf[off + 1080 : off + 1082] == b"\x53\xef":
        return "ext4"
    return None


def _read_at(path: Path, off: int, n: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def filesystem_offset(path: Path) -> tuple[str, int]:
    """(filesystem type, byte offset) of the one filesystem in a raw image: the whole file, or the only
    partition of an MBR or GPT disk. Refuses anything else."""
    kind = sniff(path)
    if kind in ("ext4", "squashfs"):
        return kind, 0
    starts: list[int] = []
    if kind == "gpt":
        hdr = _read_at(path, 512, 92)
        entries_lba, count, entry_size = struct.unpack_from("<QII", hdr, 72)
        if count > 128 or entry_size < 128 or entry_size > 512:
            raise FormatMismatch("GPT header is not plausible")
        table = _read_at(path, entries_lba * 512, count * entry_size)
        for i in range(count):
            e = table[i * entry_size : (i + 1) * entry_size]
            if len(e) < 48 or e[:16] == b"\x00" * 16:
                continue
            starts.append(struct.unpack_from("<Q", e, 32)[0] * 512)
    elif kind == "mbr":
        mbr = _read_at(path, 0, 512)
        for i in range(4):
            ptype = mbr[446 + 16 * i + 4]
            lba = struct.unpack_from("<I", mbr, 446 + 16 * i + 8)[0]
            if ptype and lba:
                starts.append(lba * 512)
    else:
        raise FormatMismatch(f"image holds no filesystem this driver can use (found {kind})")
    if len(starts) != 1:
        raise FormatMismatch(f"disk image must hold exactly one partition, found {len(starts)}")
    fs = _filesystem_at(_read_at(path, starts[0], 2048), 0)
    if not fs:
        raise FormatMismatch("the disk image's partition holds no ext2/3/4 or squashfs filesystem")
    return fs, starts[0]


_QCOW2_INCOMPAT_DIRTY, _QCOW2_INCOMPAT_CORRUPT, _QCOW2_INCOMPAT_DATA_FILE = 1, 2, 4
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_EXT_END = 0


def check_qcow2_header(path: Path) -> int:
    """Our own qcow2 header checks; returns the virtual size. Refuses backing files, external data
    files (the incompatible feature bit or its header extension), unknown incompatible features."""
    head = _read_at(path, 0, 65536)
    if len(head) < 72 or not head.startswith(b"QFI\xfb"):
        raise FormatMismatch("not a qcow2 file")
    version, backing_off, backing_len = struct.unpack_from(">IQI", head, 4)
    size = struct.unpack_from(">Q", head, 24)[0]
    if version not in (2, 3):
        raise FormatMismatch(f"unsupported qcow2 version {version}")
    if backing_off or backing_len:
        raise ImageError("qcow2 images with a backing file are refused")
    if version == 3:
        if len(head) < 104:
            raise FormatMismatch("truncated qcow2 v3 header")
        incompat = struct.unpack_from(">Q", head, 72)[0]
        header_len = struct.unpack_from(">I", head, 100)[0]
        if incompat & _QCOW2_INCOMPAT_DATA_FILE:
            raise ImageError("qcow2 images with an external data file are refused")
        if incompat & ~(_QCOW2_INCOMPAT_DIRTY | 8 | 16):  # dirty, compression type, extended L2 are known
            raise ImageError(f"qcow2 image has unsupported incompatible features {incompat:#x}")
        if incompat & _QCOW2_INCOMPAT_CORRUPT:
            raise ImageError("qcow2 image is marked corrupt")
        off = header_len
    else:
        off = 72
    # header extensions follow the header, up to the first cluster
    while off + 8 <= len(head):
        ext_type, ext_len = struct.unpack_from(">II", head, off)
        if ext_type == _QCOW2_EXT_END:
            break
        if ext_type == _QCOW2_EXT_DATA_FILE:
            raise ImageError("qcow2 images with an external data file are refused")
        off += 8 + ((ext_len + 7) & ~7)
    return size


def qemu_img_info(path: Path, fmt: str) -> dict:
    r = subprocess.run(["qemu-img", "info", "--output=json", "-f", fmt, str(path)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise FormatMismatch(f"qemu-img cannot read the image as {fmt}: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout)


def inspect_image(path: Path, disk_format: str, container_format: str = "bare") -> Inspection:
    """Refuse the image unless its content matches the declared formats (see the module docstring)."""
    detected = sniff(path)
    size = os.stat(path).st_size
    if disk_format == "raw" and container_format == "compressed":
        if detected not in ("tar", "gzip", "bzip2", "xz"):
            raise FormatMismatch(f"declared a root filesystem tarball but the content is {detected}")
        return Inspection(ImageKind.TARBALL, detected, size)
    if disk_format in ("aki", "ari"):
        if container_format != disk_format:
            raise ImageError(f"disk_format {disk_format} needs container_format {disk_format}")
        if disk_format == "aki" and _read_at(path, 0x202, 4) != b"HdrS":
            raise FormatMismatch(f"declared a kernel (aki) but the content is {detected}, not a bzImage")
        if disk_format == "ari" and detected not in ("gzip", "xz", "zstd", "bzip2") \
                and _read_at(path, 0, 6) not in (b"070701", b"070702"):
            raise FormatMismatch(f"declared an initramfs (ari) but the content is {detected}")
        return Inspection(ImageKind.BOOT, detected, size)
    if container_format != "bare":
        raise ImageError(f"container_format {container_format!r} is not supported by the container driver")
    if disk_format == "raw":
        if detected in ("qcow2", "qed", "vmdk", "vhd", "vhdx", "vdi", "luks", "iso", "gzip", "bzip2", "xz",
                        "zstd", "tar"):
            raise FormatMismatch(f"declared disk_format raw but the content is {detected}")
        filesystem_offset(path)
        return Inspection(ImageKind.FILESYSTEM, detected, size)
    if disk_format == "qcow2":
        if detected != "qcow2":
            raise FormatMismatch(f"declared disk_format qcow2 but the content is {detected}")
        vsize = check_qcow2_header(path)
        info = qemu_img_info(path, "qcow2")
        data = (info.get("format-specific") or {}).get("data") or {}
        if info.get("backing-filename") or info.get("full-backing-filename"):
            raise ImageError("qcow2 images with a backing file are refused")
        if data.get("data-file"):
            raise ImageError("qcow2 images with an external data file are refused")
        if info.get("format") != "qcow2":
            raise FormatMismatch("qemu-img does not see a qcow2 image")
        return Inspection(ImageKind.QCOW2, detected, int(info.get("virtual-size", vsize)))
    raise ImageError(f"disk_format {disk_format!r} is not supported by the container driver")


def qcow2_to_raw(src: Path, dest: Path) -> None:
    """Convert an inspected qcow2 to raw (``-f`` given: qemu-img never probes)."""
    r = subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", str(src), str(dest)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise ImageError(f"qemu-img convert failed: {r.stderr.strip()[-300:]}")
