"""Identity runs on every supported database: SQLite, MariaDB and PostgreSQL (throwaway databases)."""

import os

import pytest

from onestack.core.testing.databases import throwaway_database

IDENTITY_BACKENDS = [b for b in os.environ.get("ONESTACK_IDENTITY_TEST_DATABASES", "sqlite,mariadb,postgresql")
                     .split(",") if b]


@pytest.fixture(scope="session", params=IDENTITY_BACKENDS)
def db_url(request, tmp_path_factory):
    with throwaway_database(request.param, str(tmp_path_factory.mktemp("db"))) as url:
        yield url
