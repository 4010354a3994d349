"""The volume agent's reconcilers against the fake driver, on a database of their own (no API, no bus)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from onestack import migrations
from onestack.core.bus import InProcessBus
from onestack.core.db import make_engine
from onestack.core.uow import UnitOfWorkFactory
from onestack.volume.agent import BackupReconciler, SnapshotReconciler, VolumeReconciler
from onestack.volume.drivers.base import VolumeDriverError
from onestack.volume.drivers.fake import FakeVolumeDriver
from onestack.volume.model import Backup, Message, Snapshot, Volume


@pytest.fixture(scope="module")
def uow(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('agentdb') / 'db.sqlite'}")
    migrations.upgrade(engine)
    yield UnitOfWorkFactory(engine, InProcessBus())
    engine.dispose()


@pytest.fixture
def driver():
    return FakeVolumeDriver()


@pytest.fixture
def reconciler(uow, driver, tmp_path):
    return VolumeReconciler(uow, driver, None, tmp_path / "backups", tmp_path)


def add(uow, row):
    with uow(write=True) as w:
        w.session.add(row)
        w.session.flush()
        return row.id


def load(uow, model, key):
    with uow() as r:
        row = r.session.get(model, key)
        if row is not None:
            r.session.expunge(row)
        return row


def new_volume(uow, **kw) -> str:
    values = dict(project_id="p1", size=1, status="creating", revision=1, observed_revision=0,
                  task={"op": "create", "source": {"type": "empty"}}, metadata_={}, admin_metadata={},
                  image_metadata={})
    values.update(kw)
    return add(uow, Volume(**values))


def test_reconcile_volume_create_then_resync_finds_nothing(uow, reconciler, driver):
    key = new_volume(uow)
    assert key in list(reconciler.pending_keys())
    reconciler.reconcile(key)
    row = load(uow, Volume, key)
    assert row.status == "available" and row.observed_revision == row.revision and row.task is None
    assert driver.volume_exists(key)
    assert key not in list(reconciler.pending_keys())
    reconciler.reconcile(key)  # idempotent
    assert load(uow, Volume, key).status == "available"


def test_reconcile_volume_create_failure_sets_error_and_fault(uow, reconciler, driver):
    driver.fail_next["create_volume"] = VolumeDriverError("disk on fire")
    key = new_volume(uow)
    reconciler.reconcile(key)
    row = load(uow, Volume, key)
    assert row.status == "error" and row.fault["message"] == "disk on fire"
    assert not driver.volume_exists(key)
    with uow() as r:
        (message,) = r.session.scalars(select(Message).where(Message.resource_uuid == key)).all()
        assert message.user_message == "create volume: disk on fire" and message.project_id == "p1"


def test_reconcile_volume_from_missing_image_service_is_error(uow, reconciler, driver):
    key = new_volume(uow, task={"op": "create", "source": {"type": "image", "id": "img"}})
    reconciler.reconcile(key)
    row = load(uow, Volume, key)
    assert row.status == "error" and "image service" in row.fault["message"]


def test_reconcile_volume_deleted_while_creating_leaves_no_data(uow, reconciler, driver):
    key = new_volume(uow)
    row = load(uow, Volume, key)
    with uow(write=True) as w:  # the API marks it deleting (a newer revision) before the create lands
        live = w.session.get(Volume, key)
        live.status, live.task, live.revision = "deleting", {"op": "delete"}, 2
    reconciler._create(row, row.task)  # the stale create step finishes and must not resurrect it
    assert load(uow, Volume, key).status == "deleting"
    reconciler.reconcile(key)
    assert load(uow, Volume, key) is None
    assert not driver.volume_exists(key)


def test_reconcile_volume_extend_and_failure(uow, reconciler, driver):
    key = new_volume(uow)
    reconciler.reconcile(key)
    with uow(write=True) as w:
        live = w.session.get(Volume, key)
        live.status, live.task, live.revision = "extending", {"op": "extend", "new_size": 3,
                                                              "previous_status": "available"}, 2
    reconciler.reconcile(key)
    row = load(uow, Volume, key)
    assert (row.status, row.size) == ("available", 3)
    assert driver.volume_size(key) == 3 * 1024 ** 3
    driver.fail_next["extend_volume"] = VolumeDriverError("no space")
    with uow(write=True) as w:
        live = w.session.get(Volume, key)
        live.status, live.task, live.revision = "extending", {"op": "extend", "new_size": 4,
                                                              "previous_status": "available"}, 3
    reconciler.reconcile(key)
    row = load(uow, Volume, key)
    assert (row.status, row.size) == ("error_extending", 3)


def test_reconcile_snapshot_create_delete(uow, reconciler, driver):
    vol = new_volume(uow)
    reconciler.reconcile(vol)
    snaps = SnapshotReconciler(uow, driver)
    key = add(uow, Snapshot(volume_id=vol, project_id="p1", size=1, status="creating", revision=1,
                            observed_revision=0, metadata_={}))
    snaps.reconcile(key)
    assert load(uow, Snapshot, key).status == "available" and driver.snapshot_exists(key)
    with uow(write=True) as w:
        live = w.session.get(Snapshot, key)
        live.status, live.revision = "deleting", 2
    snaps.reconcile(key)
    assert load(uow, Snapshot, key) is None and not driver.snapshot_exists(key)


def test_reconcile_backup_of_missing_volume_is_error(uow, driver, tmp_path):
    backups = BackupReconciler(uow, driver, tmp_path / "store")
    vol = new_volume(uow, status="backing-up", task=None, observed_revision=1)
    key = add(uow, Backup(volume_id=vol, project_id="p1", size=1, status="creating", revision=1,
                          observed_revision=0, metadata_={}, task={"op": "create", "previous_status": "available"}))
    backups.reconcile(key)
    row = load(uow, Backup, key)
    assert row.status == "error" and row.fail_reason
    assert load(uow, Volume, vol).status == "available"
    assert not (tmp_path / "store" / key).exists()
