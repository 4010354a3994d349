"""Server quota checks lock the project's quota row only when there is something to count."""

import pytest
from sqlalchemy import select

from onestack.compute.model import QuotaLock
from onestack.compute.service import quotas
from onestack.core import db
from onestack.core.bus import InProcessBus
from onestack.core.testing.databases import throwaway_database
from onestack.core.uow import UnitOfWorkFactory


@pytest.fixture
def uow(tmp_path):
    with throwaway_database("postgresql", str(tmp_path)) as url:  # SQLite needs no row lock: BEGIN IMMEDIATE
        engine = db.make_engine(url)
        QuotaLock.__table__.create(engine)
        try:
            yield UnitOfWorkFactory(engine, InProcessBus())
        finally:
            engine.dispose()


def _locks(uow) -> list[str]:
    with uow() as scope:
        return list(scope.session.scalars(select(QuotaLock.key)))


def test_an_unlimited_project_boots_without_the_quota_lock(uow):
    with uow(write=True) as scope:
        assert quotas.check_servers(scope, lambda _resource, _project: -1, "p1", count=3, vcpus=1, ram=64) == 3
    assert _locks(uow) == []


def test_a_limited_project_takes_the_quota_lock(uow, monkeypatch):
    monkeypatch.setattr(quotas, "server_usage", lambda _uow, _project: (0, 0, 0))
    with uow(write=True) as scope:
        assert quotas.check_servers(scope, lambda resource, _project: 10 if resource == "instances" else -1, "p1",
                                    count=3, vcpus=1, ram=64) == 3
    assert _locks(uow) == ["project:p1"]
