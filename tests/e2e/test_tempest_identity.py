"""Tempest's identity tests of the interop guideline 2020.06 against the e2e server (`make conformance`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from onestack.core.testing import tempest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDELINE = ROOT / "tests" / "conformance" / "interop-2020.06-compute.txt"


@pytest.fixture(scope="session")
def tempest_venv() -> Path:
    """``make tempest-venv``: created once, then cached (a stamp file)."""
    proc = subprocess.run(["make", "-s", "tempest-venv"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return ROOT / ".venv-tempest"


def test_interop_identity_tests_pass(server, tempest_venv, tmp_path):
    expected = [line for line in GUIDELINE.read_text().splitlines() if "identity" in line]
    assert len(expected) == 8
    ws = tempest.write_workspace(server.clouds_yaml, tmp_path / "tempest", tempest_venv, services={"identity"},
                                 test_list=GUIDELINE, filter_="identity")
    proc = tempest.run(ws, concurrency=2, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    passed = re.search(r"Passed: (\d+)", out)
    assert passed and int(passed.group(1)) == len(expected), out[-3000:]
