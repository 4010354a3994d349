"""``onestack image build debian`` without the internet: mirror discovery from the host's apt sources
(deb822 and one-line), the debootstrap command and its progress, the debootstrap tree packed into the
image tarball (which the container driver's extractor takes whole), the build cache, and the clear
errors (no debootstrap, unreachable mirror, failed debootstrap). The real build and boot is the opt-in
``tests/compute/e2e/test_debian_image.py``."""

from __future__ import annotations

import http.server
import os
import socket
import stat
import tarfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from onestack.cli import main
from onestack.compute import testimage
from onestack.compute.drivers.container import debianimage, rootfs
from onestack.compute.drivers.container.debianimage import AptSource, DebianImageError

DEB822 = """\
# managed by the farm
Types: deb deb-src
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
 contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example.org/debian
Suites: trixie
"""


def test_parse_deb822_stanzas_comments_continuations_and_enabled():
    sources = debianimage.parse_deb822(DEB822)
    assert sources == [
        AptSource(("deb", "deb-src"), ("http://deb.example.org/debian/",), ("bookworm", "bookworm-updates"),
                  ("main", "contrib")),
        AptSource(("deb",), ("http://security.example.org/debian-security",), ("bookworm-security",), ("main",)),
        AptSource(("deb",), ("http://disabled.example.org/debian",), ("trixie",), (), enabled=False),
    ]


def test_parse_legacy_lines_with_options_and_comments():
    text = """# deb http://commented.example.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://one.example.org/debian bookworm main contrib
deb-src http://src.example.org/debian bookworm main
deb http://two.example.org/debian trixie main # trailing comment
garbage line
"""
    assert debianimage.parse_legacy(text) == [
        AptSource(("deb",), ("http://one.example.org/debian",), ("bookworm",), ("main", "contrib")),
        AptSource(("deb-src",), ("http://src.example.org/debian",), ("bookworm",), ("main",)),
        AptSource(("deb",), ("http://two.example.org/debian",), ("trixie",), ("main",)),
    ]


def apt_dir(tmp_path: Path, legacy: str | None = None, parts: dict[str, str] | None = None) -> Path:
    d = tmp_path / "apt"
    (d / "sources.list.d").mkdir(parents=True)
    if legacy is not None:
        (d / "sources.list").write_text(legacy)
    for name, text in (parts or {}).items():
        (d / "sources.list.d" / name).write_text(text)
    return d


def test_host_mirror_from_deb822_takes_the_suites_binary_source(tmp_path):
    d = apt_dir(tmp_path, parts={"debian.sources": DEB822, "other.list.disabled": "deb http://x/ bookworm main\n"})
    assert debianimage.host_mirror("bookworm", d) == "http://deb.example.org/debian"
    assert debianimage.host_mirror("bookworm-security", d) == "http://security.example.org/debian-security"
    assert debianimage.host_mirror("trixie", d) is None  # only a disabled stanza has it
    assert debianimage.host_mirror("sid", d) is None


def test_host_mirror_legacy_first_and_skips_what_debootstrap_cannot_fetch(tmp_path):
    d = apt_dir(tmp_path, legacy="deb-src http://src.example.org/debian bookworm main\n"
                                 "deb mirror+file:/etc/apt/mirrors.txt bookworm main\n"
                                 "deb cdrom:[Debian 12]/ bookworm main\n"
                                 "deb https://legacy.example.org/debian/ bookworm main\n",
                parts={"debian.sources": DEB822, "z.list": "deb http://z.example.org/debian trixie main\n"})
    assert debianimage.host_mirror("bookworm", d) == "https://legacy.example.org/debian"
    assert debianimage.host_mirror("trixie", d) == "http://z.example.org/debian"
    assert debianimage.host_mirror("bookworm", tmp_path / "nothing") is None


def test_host_suite_from_os_release(tmp_path):
    (tmp_path / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n'
                                         "VERSION_CODENAME=bookworm\nID=debian\n")
    (tmp_path / "sid").write_text('PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n')
    assert debianimage.host_suite(tmp_path / "os-release") == "bookworm"
    assert debianimage.host_suite(tmp_path / "sid") is None
    assert debianimage.host_suite(tmp_path / "missing") is None


def test_debootstrap_command_and_progress_lines(tmp_path):
    cmd = debianimage.debootstrap_command(tmp_path / "root", "bookworm", "http://m/debian", tmp_path / "debs")
    assert cmd == ["debootstrap", "--variant=minbase", "--include=iproute2,iputils-ping,dropbear-bin",
                   f"--cache-dir={tmp_path / 'debs'}", "bookworm", str(tmp_path / "root"), "http://m/debian"]
    out = ["I: Retrieving InRelease", "I: Retrieving libc6 2.36-9+deb12u10", "I: Retrieving zlib1g 1:1.2.13",
           "I: Validating libc6 2.36-9+deb12u10", "I: Extracting libc6...", "I: Extracting zlib1g...",
           "I: Installing core packages...", "I: Unpacking packages...", "I: Unpacking adduser...",
           "I: Unpacking apt...", "", "I: Unpacking the base system...", "I: Unpacking libc6:amd64...",
           "I: Base system installed successfully."]
    assert list(debianimage.progress_lines(out)) == [
        "I: Retrieving InRelease", "I: Retrieving packages...", "I: Validating packages...",
        "I: Extracting packages...", "I: Installing core packages...", "I: Unpacking packages...",
        "I: Unpacking the base system...", "I: Unpacking packages...", "I: Base system installed successfully."]


def fake_debootstrap_tree(root: Path) -> None:
    """What debootstrap leaves: the system, plus its caches, logs, the build host's files and a FIFO."""
    for d in ("usr/bin", "usr/sbin", "usr/lib", "etc/apt", "dev", "proc/1", "sys/kernel", "run/lock", "tmp",
              "var/cache/apt/archives/partial", "var/lib/apt/lists/partial", "var/log/apt", "debootstrap",
              "etc/dropbear"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")):
        (root / link).symlink_to(target)
    (root / "usr/bin/sh").write_text("#!shell\n")
    (root / "usr/bin/sh").chmod(0o755)
    (root / "usr/bin/su").write_text("su\n")
    (root / "usr/bin/su").chmod(0o4755)
    os.link(root / "usr/bin/sh", root / "usr/bin/dash")  # hard links stay hard links
    (root / "usr/sbin/ip").symlink_to("/usr/bin/sh")
    (root / "etc/os-release").write_text('VERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    (root / "etc/hostname").write_text("buildhost\n")
    (root / "etc/resolv.conf").write_text("nameserver 10.0.0.1\n")
    (root / "etc/machine-id").write_text("0123456789abcdef\n")
    (root / "etc/dropbear/dropbear_rsa_host_key").write_text("secret\n")
    (root / "var/cache/apt/archives/libc6_2.36_amd64.deb").write_bytes(b"x" * 1000)
    (root / "var/cache/apt/pkgcache.bin").write_bytes(b"x")
    (root / "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("P")
    (root / "var/log/apt/history.log").write_text("log")
    (root / "var/log/dpkg.log").write_text("log")
    (root / "debootstrap/debootstrap.log").write_text("log")
    (root / "proc/1/status").write_text("not a real proc")
    (root / "tmp/leftover").write_text("x")
    os.mkfifo(root / "dev/initctl")
    os.mknod(root / "run/sock", stat.S_IFSOCK | 0o600)  # a socket inode (bind() would need a short path)


def test_pack_rootfs_leaves_build_leftovers_out_and_the_driver_extracts_it(tmp_path):
    root = tmp_path / "rootfs"
    fake_debootstrap_tree(root)
    dest = tmp_path / "cache" / "debian.tar.gz"
    props = debianimage.pack_rootfs(root, dest, "http://m.example.org/debian", "bookworm")
    assert props == {"os_distro": "debian", "os_version": "12", "os_codename": "bookworm", "os_admin_user": "root",
                     "hw_architecture": os.uname().machine, "hw_guest": "container"}
    with tarfile.open(dest) as tar:
        members = {m.name: m for m in tar.getmembers()}
        names = set(members)
        assert {".", "usr/bin/sh", "bin", "etc/rc.local", "mnt/config", "root/.ssh", "etc/dropbear", "dev", "proc",
                "sys", "run", "tmp", "var/cache/apt/archives/partial", "var/lib/apt/lists/partial"} <= names
        for gone in ("var/cache/apt/archives/libc6_2.36_amd64.deb", "var/cache/apt/pkgcache.bin",
                     "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
                     "var/log/apt", "var/log/dpkg.log", "debootstrap", "proc/1", "tmp/leftover", "dev/initctl",
                     "run/sock", "etc/machine-id", "etc/dropbear/dropbear_rsa_host_key", "sbin/init"):
            assert gone not in names, gone
        assert members["usr/bin/sh"].islnk() and members["usr/bin/sh"].linkname == "usr/bin/dash"  # sorted
        assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
        assert members["usr/bin/su"].mode == 0o4755
        assert members["etc/rc.local"].mode == 0o755 and members["root/.ssh"].mode == 0o700
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        text = {n: tar.extractfile(n).read().decode() for n in ("etc/hostname", "etc/resolv.conf", "etc/rc.local",
                                                                   "etc/apt/sources.list")}
    assert text["etc/hostname"] == "debian\n" and text["etc/resolv.conf"] == ""
    assert "dropbear" in text["etc/rc.local"] and text["etc/rc.local"].startswith("#!/bin/sh\n")
    assert text["etc/apt/sources.list"] == "deb http://m.example.org/debian bookworm main\n"

    # the image is what the container driver's image cache accepts: nothing refused, nothing skipped
    (tmp_path / "extracted").mkdir()
    report = rootfs.extract_tarball(dest, tmp_path / "extracted")
    assert report.skipped == [] and report.hardlinks == 1
    assert (tmp_path / "extracted/usr/bin/dash").stat().st_ino == (tmp_path / "extracted/usr/bin/sh").stat().st_ino


class _Mirror(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror(tmp_path):
    (tmp_path / "www/debian/dists/bookworm").mkdir(parents=True)
    (tmp_path / "www/debian/dists/bookworm/Release").write_text("Suite: stable\n")
    handler = lambda *a, **kw: _Mirror(*a, directory=str(tmp_path / "www"), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_mirror_says_what_to_do(mirror, tmp_path):
    debianimage.check_mirror(mirror, "bookworm")
    debianimage.check_mirror(mirror + "/", "bookworm")
    with pytest.raises(DebianImageError, match=r"has no suite 'trixie' .*HTTP 404.*--suite"):
        debianimage.check_mirror(mirror, "trixie")
    with pytest.raises(DebianImageError, match=r"cannot be reached .*--mirror URL"):
        debianimage.check_mirror(f"http://127.0.0.1:{closed_port()}/debian", "bookworm", timeout=5)
    with pytest.raises(DebianImageError, match="not an http"):
        debianimage.check_mirror("mirror+file:/etc/apt/mirrors.txt", "bookworm")
    local = tmp_path / "local"
    (local / "dists/bookworm").mkdir(parents=True)
    (local / "dists/bookworm/Release").write_text("x")
    debianimage.check_mirror(f"file:{local}", "bookworm")


def test_debootstrap_failure_and_absence_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DebianImageError, match="debootstrap is not installed: apt-get install debootstrap"):
        debianimage.debootstrap(tmp_path / "root", "bookworm", "http://m/debian")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "debootstrap").write_text("#!/bin/sh\necho 'I: Retrieving InRelease'\n"
                                         "echo 'E: Failed getting release file http://m/debian/dists/bookworm/Release'\n"
                                         "exit 1\n")
    (bin_dir / "debootstrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    seen = []
    if os.geteuid() != 0:
        with pytest.raises(DebianImageError, match="needs root"):
            debianimage.debootstrap(tmp_path / "root", "bookworm", "http://m/debian", progress=seen.append)
        return
    with pytest.raises(DebianImageError, match=r"(?s)debootstrap failed \(exit 1\): debootstrap --variant=minbase"
                                               r".*E: Failed getting release file"):
        debianimage.debootstrap(tmp_path / "root", "bookworm", "http://m/debian", progress=seen.append)
    assert seen[0] == "I: Retrieving InRelease"


def test_debian_tarball_builds_once_then_comes_from_the_cache(tmp_path, monkeypatch):
    runs = []

    def fake_debootstrap(target, suite, mirror, cache_dir=None, progress=lambda _: None):
        runs.append((suite, mirror))
        fake_debootstrap_tree(target)

    monkeypatch.setattr(debianimage, "check_mirror", lambda mirror, suite: None)
    monkeypatch.setattr(debianimage, "debootstrap", fake_debootstrap)
    said = []
    first = testimage.debian_tarball(tmp_path, "http://m.example.org/debian/", "bookworm", said.append)
    assert not first.cached and first.path.exists() and first.properties["os_version"] == "12"
    assert runs == [("bookworm", "http://m.example.org/debian")]
    assert any("this takes a few minutes" in line for line in said)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the build dir is gone
    again = testimage.debian_tarball(tmp_path, "http://m.example.org/debian", "bookworm")
    assert again.cached and again.path == first.path and again.properties == first.properties and len(runs) == 1
    other = testimage.debian_tarball(tmp_path, "http://other.example.org/debian", "bookworm")
    assert not other.cached and len(runs) == 2
    assert sorted(p.name for p in tmp_path.glob("debian-*")) == sorted([other.path.name,
                                                                        other.path.name[:-7] + ".json"])
    (tmp_path / "a-file").write_text("")
    with pytest.raises(testimage.TestImageUnavailable, match="building the debian image in .*a-file failed"):
        testimage.debian_tarball(tmp_path / "a-file", "http://m.example.org/debian", "bookworm")


def test_cli_errors_are_messages_not_tracebacks(tmp_path, monkeypatch):
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    r = runner.invoke(main, ["image", "build", "busybox", "--mirror", "http://m/debian", *data])
    assert r.exit_code == 2 and "for the debian image only" in r.output
    port = closed_port()
    r = runner.invoke(main, ["image", "build", "debian", "--no-upload", "--mirror", f"http://127.0.0.1:{port}/debian",
                             "--suite", "bookworm", *data])
    assert r.exit_code == 1, r.output
    assert f"Error: the mirror http://127.0.0.1:{port}/debian cannot be reached" in r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    monkeypatch.setattr(debianimage, "check_mirror", lambda mirror, suite: None)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    r = runner.invoke(main, ["image", "build", "debian", "--no-upload", "--suite", "bookworm",
                             "--mirror", "http://m/debian", *data])
    assert r.exit_code == 1 and "Error: debootstrap is not installed" in r.output, r.output
    assert not list((tmp_path / "data/compute/test-images").glob("debian-*"))


def test_cli_builds_and_uploads_the_public_image(tmp_path, monkeypatch):
    monkeypatch.setattr(debianimage, "check_mirror", lambda mirror, suite: None)
    monkeypatch.setattr(debianimage, "debootstrap",
                        lambda target, suite, mirror, cache_dir=None, progress=None: fake_debootstrap_tree(target))
    data = tmp_path / "data"
    r = CliRunner().invoke(main, ["image", "build", "debian", "--mirror", "http://m/debian", "--suite", "bookworm",
                                  "--data-dir", str(data), "--output", str(tmp_path / "out.tar.gz")])
    assert r.exit_code == 0, r.output
    assert "this takes a few minutes" in r.output and "built " in r.output and "container_format=compressed" in r.output
    assert (tmp_path / "out.tar.gz").exists()
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("image debian ") and "active, public" in line, r.output
    again = CliRunner().invoke(main, ["image", "build", "debian", "--mirror", "http://m/debian", "--suite", "bookworm",
                                      "--data-dir", str(data)])
    assert again.exit_code == 0 and "cached " in again.output and "this takes" not in again.output, again.output
    assert again.output.strip().splitlines()[-1] == line  # the active public image is kept
