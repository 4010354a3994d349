"""Tempest's compute volume-attach tests of the interop guideline 2020.06 (``tempest.api.compute.volumes``)
against the e2e server: fake guest driver, real volume service (`make conformance`)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from onestack.core.testing import tempest
from tests.e2e.test_tempest_compute import tempest_venv  # noqa: F401 (the shared fixture)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDELINE = ROOT / "tests" / "conformance" / "interop-2020.06-compute.txt"


def test_interop_compute_volume_tests_pass(server, cli, tempest_venv, tmp_path, name):  # noqa: F811
    expected = [line.strip() for line in GUIDELINE.read_text().splitlines()
                if line.startswith("tempest.api.compute.volumes.")]
    assert len(expected) == 2
    tests = tmp_path / "compute-volume-tests.txt"
    tests.write_text("\n".join(expected) + "\n")
    raw = tmp_path / "image.raw"
    raw.write_bytes(b"tempest-image" + bytes(65536))
    image = cli("image", "create", "--public", "--disk-format", "raw", "--container-format", "bare",
                "--file", str(raw), name)
    try:
        ws = tempest.write_workspace(server.clouds_yaml, tmp_path / "tempest", tempest_venv,
                                     test_list=tests, filter_="tempest.api.compute.volumes")
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(ws.config)
        for section, values in {
            "compute": {"image_ref": image["id"], "image_ref_alt": image["id"], "flavor_ref": "c1",
                        "flavor_ref_alt": "42", "build_timeout": "60", "max_microversion": "latest"},
            "compute-feature-enabled": {"pause": "true", "suspend": "true", "shelve": "true",
                                        "attach_encrypted_volume": "false"},
            "volume": {"build_timeout": "60"},
            "validation": {"run_validation": "false"},
        }.items():
            if not conf.has_section(section):
                conf.add_section(section)
            for key, value in values.items():
                conf.set(section, key, value)
        with ws.config.open("w") as fh:
            conf.write(fh)
        proc = tempest.run(ws, concurrency=2, timeout=900)
    finally:
        cli.ok("image", "delete", image["id"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    passed = re.search(r"Passed: (\d+)", out)
    assert passed and int(passed.group(1)) == len(expected), out[-3000:]
