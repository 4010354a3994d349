"""Root filesystem tarballs and disk images are untrusted: unit tests for the safe extractor and the
image inspector (no root needed, except where noted)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.compute.drivers.container import rootfs
from onestack.compute.drivers.container.rootfs import (
    FormatMismatch,
    ImageError,
    ImageKind,
    UnsafeArchive,
    extract_tarball,
    inspect_image,
)


def make_tar(path: Path, members: list[tuple], compress: str = "") -> Path:
    """members: (name, type, payload) with type in file|dir|sym|hard|chr|fifo."""
    with tarfile.open(path, "w:" + compress) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            data = None
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.fixture
def box(tmp_path):
    """dest is where the archive goes; outside is a sibling that must stay untouched."""
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    return tmp_path, dest, outside


def test_extract_tarball_keeps_a_normal_rootfs(box):
    tmp, dest, _ = box
    tar = make_tar(tmp / "ok.tar.gz", [
        ("./", "dir", None), ("./bin", "dir", None), ("./bin/busybox", "file", "BB"),
        ("./bin/sh", "sym", "busybox"), ("./sbin", "sym", "bin"), ("./usr/bin/env", "sym", "/bin/busybox"),
        ("./bin/ash", "hard", "./bin/busybox"), ("./dev/null", "chr", None), ("./run/fifo", "fifo", None),
        ("etc/hostname", "file", "x"), ("etc/hostname", "file", "replaced"),
    ], compress="gz")
    report = extract_tarball(tar, dest)
    assert (dest / "bin/busybox").read_text() == "BB"
    assert os.readlink(dest / "bin/sh") == "busybox"
    assert os.readlink(dest / "usr/bin/env") == "/bin/busybox"  # absolute targets are guest-relative
    assert os.stat(dest / "bin/ash").st_ino == os.stat(dest / "bin/busybox").st_ino
    assert (dest / "etc/hostname").read_text() == "replaced"
    assert not (dest / "dev/null").exists() and not (dest / "run/fifo").exists()
    assert sorted(report.skipped) == ["dev/null", "run/fifo"]
    assert report.files == 3 and report.symlinks == 3 and report.hardlinks == 1


@pytest.mark.parametrize("members", [
    [("/etc/passwd", "file", "x")],
    [("../outside/evil", "file", "x")],
    [("a/../../outside/evil", "file", "x")],
    [("link", "sym", "../outside"), ("link/evil", "file", "x")],
    [("link", "sym", "/"), ("link/outside/evil", "file", "x")],
    [("esc", "sym", "../../outside/secret")],
    [("esc", "sym", "/../outside/secret")],
    [("h", "hard", "../outside/secret")],
    [("h", "hard", "/etc/passwd")],
    [("s", "sym", "x"), ("h", "hard", "s")],
    [("h", "hard", "missing")],
    [("d", "dir", None), ("d", "file", "x")],
    [("f", "file", "x"), ("f/g", "file", "y")],
], ids=lambda m: m[-1][0])
def test_extract_tarball_refuses_escapes(box, members):
    tmp, dest, outside = box
    with pytest.raises(UnsafeArchive):
        extract_tarball(make_tar(tmp / "evil.tar", members), dest)
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "host secret"


def test_extract_tarball_enforces_size_budget(box):
    tmp, dest, _ = box
    tar = make_tar(tmp / "big.tar", [("a", "file", "x" * 600), ("b", "file", "y" * 600)])
    with pytest.raises(UnsafeArchive, match="more than 1000 bytes"):
        extract_tarball(tar, dest, max_bytes=1000)


def test_extract_tarball_refuses_garbage(box):
    tmp, dest, _ = box
    (tmp / "junk").write_bytes(b"\x1f\x8b" + os.urandom(100))
    with pytest.raises(ImageError):
        extract_tarball(tmp / "junk", dest)


NAMES = st.lists(st.sampled_from(["a", "b", "..", ".", "", "etc", "outside"]), min_size=1, max_size=4).map("/".join)
TARGETS = st.lists(st.sampled_from(["a", "b", "..", ".", "", "/", "outside", "secret"]), min_size=1,
                   max_size=5).map("/".join)
MEMBERS = st.lists(st.tuples(st.one_of(NAMES, NAMES.map(lambda n: "/" + n)),
                             st.sampled_from(["file", "dir", "sym", "hard"]), TARGETS), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=MEMBERS)
def test_extract_tarball_never_writes_outside_the_tree(tmp_path, members):
    """Whatever the archive, either it is refused or everything lands inside dest, and no link in
    dest resolves (as the guest would see it) above the guest root."""
    work = tmp_path / str(abs(hash(tuple(members))))
    dest, outside = work / "dest", work / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    tar = make_tar(work / "t.tar", [(n, k, t if k != "file" else "data") for n, k, t in members])
    with contextlib.suppress(UnsafeArchive):
        extract_tarball(tar, dest)
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "host secret"
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            p = Path(root) / name
            rel = p.relative_to(dest).parts
            if p.is_symlink():
                assert rootfs._symlink_stays_inside(list(rel), os.readlink(p))
    shutil.rmtree(work)


@given(name=st.text(alphabet="ab./", max_size=12))
def test_member_parts_never_contains_dotdot(name):
    try:
        parts = rootfs._member_parts(name)
    except UnsafeArchive:
        assert name.startswith("/") or ".." in name.split("/")
        return
    assert ".." not in parts and all(parts)


# --------------------------------------------------------------------------- image inspection


def mkfs_ext4(path: Path, size_mb: int = 8) -> Path:
    with open(path, "wb") as f:
        f.truncate(size_mb << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(path)], check=True)
    return path


def test_inspect_raw_filesystem(tmp_path):
    img = mkfs_ext4(tmp_path / "fs.raw")
    result = inspect_image(img, "raw", "bare")
    assert result.kind is ImageKind.FILESYSTEM and result.detected == "ext4"
    assert rootfs.filesystem_offset(img) == ("ext4", 0)


def test_inspect_raw_disk_with_one_partition(tmp_path):
    fs = mkfs_ext4(tmp_path / "fs.raw")
    disk = tmp_path / "disk.raw"
    mbr = bytearray(512)
    struct.pack_into("<BBBBBBBBII", mbr, 446, 0, 0, 0, 0, 0x83, 0, 0, 0, 2048, 16384)
    mbr[510:512] = b"\x55\xaa"
    with open(disk, "wb") as f:
        f.write(mbr)
        f.seek(2048 * 512)
        f.write(fs.read_bytes())
    assert inspect_image(disk, "raw").detected == "mbr"
    assert rootfs.filesystem_offset(disk) == ("ext4", 2048 * 512)


def test_inspect_qcow2_ok(tmp_path):
    fs = mkfs_ext4(tmp_path / "fs.raw")
    q = tmp_path / "fs.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(fs), str(q)], check=True)
    result = inspect_image(q, "qcow2")
    assert result.kind is ImageKind.QCOW2 and result.virtual_size == 8 << 20
    out = tmp_path / "back.raw"
    rootfs.qcow2_to_raw(q, out)
    assert rootfs.filesystem_offset(out) == ("ext4", 0)


def test_inspect_refuses_qcow2_with_backing_file(tmp_path):
    """CVE-2024-32498: a qcow2 pointing at a host file must never be opened."""
    (tmp_path / "host-secret").write_bytes(b"secret" * 1000)
    q = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(tmp_path / "host-secret"), "-F", "raw",
                    str(q)], check=True)
    with pytest.raises(ImageError, match="backing file"):
        inspect_image(q, "qcow2")


def test_inspect_refuses_qcow2_with_external_data_file(tmp_path):
    q = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", f"data_file={tmp_path / 'data.raw'}",
                    str(q), "1M"], check=True)
    with pytest.raises(ImageError, match="external data file"):
        inspect_image(q, "qcow2")
    # the same file with the incompatible bit cleared still carries the extension: refused too
    raw = bytearray(q.read_bytes())
    struct.pack_into(">Q", raw, 72, struct.unpack_from(">Q", raw, 72)[0] & ~4)
    q.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match="external data file"):
        rootfs.check_qcow2_header(q)


@pytest.mark.parametrize(("content", "disk_format", "container_format"), [
    ("qcow2", "raw", "bare"),  # a qcow2 declared raw would be mounted as garbage
    ("ext4", "qcow2", "bare"),
    ("tar", "raw", "bare"),
    ("ext4", "raw", "compressed"),
    ("tar", "vmdk", "bare"),
    ("junk", "raw", "bare"),
    ("ext4", "raw", "ova"),
])
def test_inspect_refuses_mismatched_content(tmp_path, content, disk_format, container_format):
    path = tmp_path / "img"
    if content == "qcow2":
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    elif content == "ext4":
        mkfs_ext4(path)
    elif content == "tar":
        make_tar(path, [("a", "file", "x")])
    else:
        path.write_bytes(os.urandom(4096))
    with pytest.raises((FormatMismatch, ImageError)):
        inspect_image(path, disk_format, container_format)


@pytest.mark.parametrize("compress", ["", "gz", "xz", "bz2"])
def test_inspect_tarball(tmp_path, compress):
    tar = make_tar(tmp_path / "t.tar", [("a", "file", "x")], compress=compress)
    assert inspect_image(tar, "raw", "compressed").kind is ImageKind.TARBALL


@settings(deadline=None)
@given(head=st.binary(min_size=0, max_size=2048))
def test_sniff_never_crashes(tmp_path_factory, head):
    path = tmp_path_factory.mktemp("sniff") / "x"
    path.write_bytes(head)
    assert isinstance(rootfs.sniff(path), str)
