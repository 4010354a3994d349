"""The image e2e tests reuse the shared real-server fixtures of tests/e2e (clouds.yaml, the CLI
wrapper, openstacksdk), with their own ``onestack up`` per worker: images need no network data plane,
so that server runs the fake network driver."""

import pytest

from onestack.core.testing.process import ServerProcess
from tests.e2e.conftest import (  # noqa: F401  (fixtures)
    SERVER_ENV,
    Cli,
    cli,
    clouds,
    clouds_yaml,
    demo_cli,
    name,
    sdk,
    sdk_env,
)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("image-e2e")
    env = {**SERVER_ENV, "ONESTACK_NETWORK_DRIVER": "fake",
           # web-download from the loopback origin a test starts (any port on 127.0.0.1 only)
           "ONESTACK_IMAGE_ENABLED_IMPORT_METHODS": "glance-direct,web-download",
           "ONESTACK_IMAGE_WEB_DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1", "ONESTACK_IMAGE_WEB_DOWNLOAD_ALLOWED_PORTS": ""}
    proc = ServerProcess(base / "data", env=env, log_path=base / "server.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
