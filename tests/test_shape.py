"""Every service package keeps the common shape (DESIGN.md section 3) and has its import contracts."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

import pytest

import onestack
from onestack.core.http import ServiceSpec

ROOT = Path(onestack.__file__).parent
NOT_SERVICES = {"core", "migrations", "dashboard"}
SERVICES = sorted(m.name for m in pkgutil.iter_modules([str(ROOT)]) if m.ispkg and m.name not in NOT_SERVICES)
REQUIRED = ("routes.py", "api", "schemas", "views", "model.py", "policies.py", "errors.py", "client.py")


def test_there_are_services():
    assert "identity" in SERVICES


@pytest.mark.parametrize("name", SERVICES)
def test_service_package_has_common_files(name):
    pkg = ROOT / name
    missing = [f for f in REQUIRED if not (pkg / f).exists()]
    assert (pkg / "service.py").exists() or (pkg / "service" / "__init__.py").exists(), f"{name}: no service"
    assert not missing, f"{name} lacks {missing}"


@pytest.mark.parametrize("name", SERVICES)
def test_service_declares_spec_with_routes(name):
    module = importlib.import_module(f"onestack.{name}")
    spec = module.SPEC
    assert isinstance(spec, ServiceSpec)
    routes = importlib.import_module(f"onestack.{name}.routes").ROUTES
    assert spec.routes is routes
    assert spec.prefix.startswith("/") and spec.rules


@pytest.mark.parametrize("name", SERVICES)
def test_service_has_layer_contract(name):
    contracts = tomllib.loads((ROOT.parents[1] / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layered = [c for c in contracts if c["type"] == "layers" and any(f"onestack.{name}." in layer
                                                                      for layer in c["layers"])]
    assert layered, f"pyproject.toml has no import-linter layers contract for {name}"


@pytest.mark.parametrize("name", SERVICES)
def test_drivers_have_a_fake(name):
    drivers = ROOT / name / "drivers"
    if drivers.is_dir():
        assert (drivers / "base.py").exists() and (drivers / "fake.py").exists()
