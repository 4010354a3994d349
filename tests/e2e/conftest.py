"""The real server process driven by the real clients (openstack CLI, openstacksdk).

One ``onestack up`` per test session (per xdist worker) on a free loopback port and its own data
dir; the generated ``clouds.yaml`` (clouds ``onestack``, ``onestack-demo``, ``onestack-system``) is
what every client uses through ``OS_CLIENT_CONFIG_FILE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from onestack.core.testing.process import ServerProcess

BIN = Path(sys.executable).parent
# Cheap password hashing; fake data planes (the e2e suite creates no kernel objects and needs no root).
SERVER_ENV = {"ONESTACK_IDENTITY_BCRYPT_ROUNDS": "4", "ONESTACK_NETWORK_DRIVER": "fake",
              "ONESTACK_COMPUTE_DRIVER": "fake"}



class Cli:
    """``openstack --os-cloud CLOUD ... -f json`` as a subprocess; returns the parsed JSON."""

    def __init__(self, clouds_yaml: Path, cloud: str = "onestack") -> None:
        self.clouds_yaml = clouds_yaml
        self.cloud = cloud
        exe = BIN / "openstack"
        self.exe = str(exe) if exe.exists() else "openstack"

    def as_cloud(self, cloud: str) -> Cli:
        return Cli(self.clouds_yaml, cloud)

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.exe, "--os-cloud", self.cloud, *args]
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
        return proc

    def __call__(self, *args: str):
        """Run a command that prints JSON (``-f json`` is added)."""
        out = self.run(*args, "-f", "json").stdout
        return json.loads(out) if out.strip() else None

    def ok(self, *args: str) -> None:
        """Run a command that prints nothing on success."""
        self.run(*args)

    def fails(self, *args: str) -> str:
        proc = self.run(*args, check=False)
        assert proc.returncode != 0, f"{' '.join(args)} unexpectedly succeeded:\n{proc.stdout}"
        return proc.stderr


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    proc = ServerProcess(base / "data", env=SERVER_ENV, log_path=base / "server.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def clouds_yaml(server) -> Path:
    return server.clouds_yaml


@pytest.fixture(scope="session")
def clouds(clouds_yaml) -> dict:
    return yaml.safe_load(clouds_yaml.read_text())["clouds"]


@pytest.fixture(scope="session")
def cli(clouds_yaml) -> Cli:
    return Cli(clouds_yaml, "onestack")


@pytest.fixture(scope="session")
def demo_cli(cli) -> Cli:
    return cli.as_cloud("onestack-demo")


@pytest.fixture(scope="session")
def system_cli(cli) -> Cli:
    return cli.as_cloud("onestack-system")


@pytest.fixture
def name():
    """A unique resource name per test."""
    return "e2e-" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def sdk_env(clouds_yaml):
    """openstacksdk reads OS_CLIENT_CONFIG_FILE when a connection is made; point it at our file."""
    old = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
    try:
        yield clouds_yaml
    finally:
        if old is None:
            os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
        else:
            os.environ["OS_CLIENT_CONFIG_FILE"] = old


@pytest.fixture(scope="session")
def sdk(sdk_env):
    import openstack

    conn = openstack.connect(cloud="onestack")
    yield conn
    conn.close()
