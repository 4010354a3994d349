"""Tempest's image tests of the interop guideline 2020.06 against the image e2e server."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import pytest

from onestack.core.testing import tempest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
GUIDELINE = ROOT / "tests" / "conformance" / "interop-2020.06-compute.txt"


@pytest.fixture(scope="session")
def tempest_venv() -> Path:
    """``make tempest-venv``: created once, then cached (a stamp file)."""
    proc = subprocess.run(["make", "-s", "tempest-venv"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return ROOT / ".venv-tempest"


def test_interop_image_tests_pass(server, tempest_venv, tmp_path):
    expected = [line for line in GUIDELINE.read_text().splitlines() if "tempest.api.image." in line]
    assert len(expected) == 20
    ws = tempest.write_workspace(server.clouds_yaml, tmp_path / "tempest", tempest_venv,
                                 services={"identity", "image"}, test_list=GUIDELINE, filter_="tempest.api.image.")
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(ws.config)
    # onestack refuses data that does not match its disk_format, as upstream does by default; Tempest's
    # listing tests upload random bytes, which are honest data for these formats.
    conf["image-feature-enabled"] = {"image_format_enforcement": "false"}
    conf["image"] = {"disk_formats": "raw,ami,ari,aki", "container_formats": "bare,ami,ari,aki,ovf,ova"}
    with ws.config.open("w") as fh:
        conf.write(fh)
    proc = tempest.run(ws, concurrency=2, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    passed = re.search(r"Passed: (\d+)", out)
    assert passed and int(passed.group(1)) == len(expected), out[-3000:]
