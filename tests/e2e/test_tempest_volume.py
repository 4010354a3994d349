"""Tempest's volume tests of the interop guideline 2020.06 against the e2e server (`make conformance`)."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import pytest

from onestack.core.testing import tempest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDELINE = ROOT / "tests" / "conformance" / "interop-2020.06-compute.txt"
# The guideline names one test under a class that Tempest has since renamed (SnapshotMetadataTestJSON).
RENAMED = {"tempest.api.volume.test_snapshot_metadata.VolumesMetadataTest.test_update_snapshot_metadata"}


@pytest.fixture(scope="session")
def tempest_venv() -> Path:
    """``make tempest-venv``: created once, then cached (a stamp file)."""
    proc = subprocess.run(["make", "-s", "tempest-venv"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return ROOT / ".venv-tempest"


def test_interop_volume_tests_pass(server, cli, tempest_venv, tmp_path, name):
    expected = [line.strip() for line in GUIDELINE.read_text().splitlines()
                if line.startswith("tempest.api.volume.") and line.strip() not in RENAMED]
    assert len(expected) == 54
    tests = tmp_path / "volume-tests.txt"
    tests.write_text("\n".join(expected) + "\n")
    raw = tmp_path / "image.raw"
    raw.write_bytes(b"tempest-image" + bytes(65536))
    image = cli("image", "create", "--public", "--disk-format", "raw", "--container-format", "bare",
                "--file", str(raw), name)
    try:
        # every service of the catalog: some volume test classes also set up for their server tests
        ws = tempest.write_workspace(server.clouds_yaml, tmp_path / "tempest", tempest_venv,
                                     test_list=tests, filter_="tempest.api.volume")
        conf = configparser.ConfigParser()
        conf.read(ws.config)
        if not conf.has_section("compute"):
            conf.add_section("compute")
        conf.set("compute", "image_ref", image["id"])  # VolumesGetTest's volume from an image
        with ws.config.open("w") as fh:
            conf.write(fh)
        proc = tempest.run(ws, concurrency=2, timeout=900)
    finally:
        cli.ok("image", "delete", image["id"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    passed = re.search(r"Passed: (\d+)", out)
    assert passed and int(passed.group(1)) == len(expected), out[-3000:]
