"""Shared fixtures.  ``cloud``/``http``/``admin``/``demo`` run on every database backend listed in
ONESTACK_TEST_DATABASES (default: sqlite; identity tests run on all three) where the backend is reachable."""

from __future__ import annotations

import os

import pytest

from onestack.core.testing.client import login, make_settings
from onestack.core.testing.databases import throwaway_database
from onestack.testing import running_cloud

BACKENDS = [b for b in os.environ.get("ONESTACK_TEST_DATABASES", "sqlite").split(",") if b]


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request, tmp_path_factory):
    with throwaway_database(request.param, str(tmp_path_factory.mktemp("db"))) as url:
        yield url


@pytest.fixture(scope="session")
def cloud_env(db_url, tmp_path_factory):
    settings = make_settings(str(tmp_path_factory.mktemp("data")), db_url)
    with running_cloud(settings) as env:
        yield env


@pytest.fixture(scope="session")
def cloud(cloud_env):
    return cloud_env[0]


@pytest.fixture(scope="session")
def http(cloud_env):
    return cloud_env[1]


@pytest.fixture(scope="session")
def passwords(cloud_env):
    return cloud_env[2]


@pytest.fixture
def admin(http, passwords):
    return login(http, "admin", passwords["admin"], "admin")


@pytest.fixture
def demo(http, passwords):
    return login(http, "demo", passwords["demo"], "demo")
