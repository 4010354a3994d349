"""Fixtures for real containers: a per-test name prefix for every kernel object (cgroups, mount
directories, veths, bridges, loop files), the busybox test image, and teardown that proves nothing
was left behind."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from onestack.compute.drivers.container import cgroups, imagebuild
from onestack.compute.drivers.container.guestinit import ensure_runtime_layer
from onestack.compute.drivers.container.imagecache import ImageCache
from onestack.compute.drivers.container.overlay import mounts_below
from onestack.compute.drivers.container.runtime import Runtime


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, mounts, cgroups)")
    if not shutil.which("lxc-start"):
        pytest.fail("lxc is not installed (make install apt-installs it)")


@pytest.fixture
def prefix() -> str:
    """Short (veth names have 15 characters) and unique per test, across xdist workers."""
    return "ot" + secrets.token_hex(3)


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory) -> tuple[Path, str]:
    built = imagebuild.build_busybox(tmp_path_factory.mktemp("img") / "busybox.tar.gz")
    return built.path, hashlib.sha512(built.path.read_bytes()).hexdigest()


def chunks(path: Path):
    def fetch():
        with open(path, "rb") as f:
            while block := f.read(1 << 16):
                yield block
    return fetch


@pytest.fixture
def cache(tmp_path):
    need_root()
    c = ImageCache(tmp_path / "cache")
    yield c
    c.clear()
    assert not mounts_below(tmp_path / "cache")


@pytest.fixture
def runtime_layer(tmp_path_factory) -> Path:
    return ensure_runtime_layer(tmp_path_factory.getbasetemp() / "runtime-layer")


@pytest.fixture
def busybox_lower(cache, busybox_image) -> Path:
    path, digest = busybox_image
    return cache.ensure("busybox", disk_format="raw", container_format="compressed", checksum=digest,
                        fetch=chunks(path))


@pytest.fixture
def rt(tmp_path, prefix):
    need_root()
    runtime = Runtime(tmp_path / "guests", prefix, stop_timeout=5, disk_templates=True)  # as the driver
    yield runtime
    for name in runtime.names():
        runtime.destroy(name)
    assert_nothing_left(runtime, tmp_path / "guests")


def assert_nothing_left(runtime: Runtime, guests: Path) -> None:
    assert not mounts_below(guests), "mounts left behind"
    assert not cgroups.find_prefixed(runtime.prefix), "cgroups left behind"
    # A busy loop device is released by the kernel (autoclear) once its last user is gone, which on
    # a loaded machine can lag the destroy; poll for it rather than race it.
    deadline = time.monotonic() + 30
    while str(guests) in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "loop devices left behind"
        time.sleep(0.2)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"{runtime.prefix}v" not in links, "veths left behind"  # guests' veths are named <prefix>v<n>
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert runtime.prefix not in procs, "processes left behind"


@pytest.fixture
def bridge(prefix):
    """A Linux bridge of our own (10.214.N.1/24, N from the prefix) for guests' veths."""
    need_root()
    name = f"{prefix}br"
    net = int(prefix[2:], 16) % 250 + 1
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"10.214.{net}.1/24", "dev", name], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    yield name, f"10.214.{net}"
    subprocess.run(["ip", "link", "del", name], check=False)
