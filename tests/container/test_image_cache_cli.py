"""``onestack admin image-cache list|prune`` on the container driver's per-host image cache."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from onestack.cli import main
from onestack.compute.agent import container_state_dir
from onestack.compute.drivers.container.imagecache import ImageCache
from onestack.core import config
from tests.container.conftest import chunks, need_root


def test_admin_image_cache_list_and_prune_keep_used_images(tmp_path, busybox_image):
    need_root()
    data = tmp_path / "data"
    cache = ImageCache(Path(container_state_dir(config.load(env={}, data_dir=str(data)))) / "images")
    path, digest = busybox_image
    for image_id in ("img-used", "img-idle"):
        cache.ensure(image_id, disk_format="raw", container_format="compressed", checksum=digest,
                     fetch=chunks(path))
    cache.acquire("img-used", "guest-1")
    runner = CliRunner()
    try:
        listed = runner.invoke(main, ["admin", "image-cache", "list", "--data-dir", str(data)])
        assert listed.exit_code == 0, listed.output
        rows = {line.split()[0]: line.split() for line in listed.output.splitlines()[1:]}
        assert set(rows) == {"img-used", "img-idle"}
        assert rows["img-used"][-1] == "1" and rows["img-idle"][-1] == "0"
        kept = runner.invoke(main, ["admin", "image-cache", "prune", "--data-dir", str(data)])
        assert "removed 0" in kept.output  # both were used within the default age
        pruned = runner.invoke(main, ["admin", "image-cache", "prune", "--max-age", "0", "--data-dir", str(data)])
        assert pruned.exit_code == 0, pruned.output
        assert "img-idle" in pruned.output and "img-used" not in pruned.output
        assert [i.image_id for i in cache.list()] == ["img-used"]
    finally:
        cache.release("img-used", "guest-1")
        cache.clear()


def test_admin_image_cache_lists_and_prunes_the_qemu_cache_without_the_driver_setting(tmp_path, busybox_image):
    """A cloud started with ONESTACK_COMPUTE_DRIVER=qemu: its cache is listed and pruned by the commands run
    without the variable (the data dir says which caches exist), with the driver that owns each image."""
    need_root()
    data = tmp_path / "data"
    state = Path(container_state_dir(config.load(env={}, data_dir=str(data))))
    qemu = ImageCache(state / "qemu" / "images", mount=False)
    path, digest = busybox_image
    qemu.ensure("img-vm", disk_format="raw", container_format="compressed", checksum=digest, fetch=chunks(path))
    runner = CliRunner()
    try:
        listed = runner.invoke(main, ["admin", "image-cache", "list", "--data-dir", str(data)], env={})
        assert listed.exit_code == 0, listed.output
        rows = {line.split()[0]: line.split() for line in listed.output.splitlines()[1:]}
        assert set(rows) == {"img-vm"} and rows["img-vm"][1] == "qemu"
        pruned = runner.invoke(main, ["admin", "image-cache", "prune", "--max-age", "0", "--data-dir", str(data)])
        assert "removed 1 cached image(s): img-vm" in pruned.output, pruned.output
        assert qemu.list() == []
    finally:
        qemu.clear()
