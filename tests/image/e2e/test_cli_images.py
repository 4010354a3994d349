"""The real ``openstack`` CLI against a real ``onestack up``: the image commands users run."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest

pytestmark = pytest.mark.e2e

ROUND_TRIP_MB = 200


def qcow2_file(path, virtual_size: int = 1 << 30) -> None:
    header = b"QFI\xfb" + struct.pack(">I", 3) + b"\0" * 16 + struct.pack(">Q", virtual_size)
    path.write_bytes(header + b"\0" * (65536 - len(header)))


def md5(path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def test_image_lifecycle_with_cli(cli, name, tmp_path):
    src = tmp_path / "x.img"
    qcow2_file(src, 2 << 30)
    image = cli("image", "create", "--file", str(src), "--disk-format", "qcow2", "--container-format", "bare",
                "--property", "os_distro=debian", "--tag", "first", name)
    try:
        assert image["status"] == "active" and image["size"] == 65536 and image["virtual_size"] == 2 << 30
        assert image["checksum"] == md5(src)
        assert image["properties"]["os_distro"] == "debian" and image["tags"] == ["first"]
        cli.ok("image", "set", "--property", "hw_disk_bus=virtio", "--tag", "second", "--min-ram", "256",
               "--protected", name)
        shown = cli("image", "show", name)
        assert shown["properties"]["hw_disk_bus"] == "virtio" and sorted(shown["tags"]) == ["first", "second"]
        assert shown["min_ram"] == 256 and shown["protected"] is True
        assert "protected" in cli.fails("image", "delete", name)
        cli.ok("image", "unset", "--property", "hw_disk_bus", "--tag", "first", name)
        shown = cli("image", "show", name)
        assert "hw_disk_bus" not in shown["properties"] and shown["tags"] == ["second"]
        assert [i["Name"] for i in cli("image", "list", "--tag", "second")] == [name]
        out = tmp_path / "out.img"
        cli.ok("image", "save", "--file", str(out), name)
        assert out.read_bytes() == src.read_bytes()
        cli.ok("image", "set", "--unprotected", "--name", name + "-2", name)
    finally:
        cli.run("image", "set", "--unprotected", image["id"], check=False)
        cli.run("image", "delete", image["id"], check=False)
    assert name + "-2" not in [i["Name"] for i in cli("image", "list")]


def test_image_share_with_project_and_accept(cli, demo_cli, name, tmp_path):
    src = tmp_path / "s.img"
    src.write_bytes(os.urandom(100000))
    image = cli("image", "create", "--file", str(src), "--disk-format", "raw", "--container-format", "bare",
                "--shared", name)
    try:
        assert image["id"] not in [i["ID"] for i in demo_cli("image", "list")]
        member = cli("image", "add", "project", name, "demo")
        assert member["status"] == "pending"
        demo_cli.ok("image", "set", "--accept", image["id"])
        assert image["id"] in [i["ID"] for i in demo_cli("image", "list")]
        out = tmp_path / "demo.img"
        demo_cli.ok("image", "save", "--file", str(out), image["id"])
        assert out.read_bytes() == src.read_bytes()
    finally:
        cli.run("image", "delete", image["id"], check=False)


def test_image_import_glance_direct_with_cli(cli, name, tmp_path):
    src = tmp_path / "i.img"
    src.write_bytes(os.urandom(300000))
    cli("image", "create", "--import", "--file", str(src), "--disk-format", "raw", "--container-format", "bare",
        name)
    try:
        shown = cli("image", "show", name)
        assert shown["status"] == "active" and shown["checksum"] == md5(src)
    finally:
        cli.run("image", "delete", name, check=False)


def test_image_import_web_download_with_cli(cli, sdk, name, tmp_path):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    src = tmp_path / "web.img"
    src.write_bytes(os.urandom(2 * (1 << 20) + 7))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    origin = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    def queued(image_name: str) -> dict:  # the CLI would upload its (non-tty) stdin as the data
        resp = sdk.image.post("/images", json={"name": image_name, "disk_format": "raw", "container_format": "bare"})
        assert resp.status_code == 201, resp.text
        return resp.json()

    image = queued(name)
    try:
        cli.ok("image", "import", "--method", "web-download", "--wait",
               "--uri", f"http://127.0.0.1:{origin.server_address[1]}/web.img", image["id"])
        shown = cli("image", "show", image["id"])
        assert shown["status"] == "active" and shown["checksum"] == md5(src), shown
        out = tmp_path / "web.out"
        cli.ok("image", "save", "--file", str(out), image["id"])
        assert out.read_bytes() == src.read_bytes()
    finally:
        origin.shutdown()
        origin.server_close()
        cli.run("image", "delete", image["id"], check=False)


def test_image_round_trip_200mb_with_cli(cli, name, tmp_path):
    src = tmp_path / "big.img"
    with open(src, "wb") as fh:
        block = os.urandom(1 << 20)
        for i in range(ROUND_TRIP_MB):
            fh.write(block[i:] + block[:i])  # every MiB differs
    image = cli("image", "create", "--file", str(src), "--disk-format", "raw", "--container-format", "bare", name)
    try:
        assert image["size"] == ROUND_TRIP_MB << 20 and image["checksum"] == md5(src)
        out = tmp_path / "big.out"
        cli.ok("image", "save", "--file", str(out), image["id"])
        assert out.stat().st_size == src.stat().st_size and md5(out) == image["checksum"]
    finally:
        cli.run("image", "delete", image["id"], check=False)
