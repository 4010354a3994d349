"""Image use cases without HTTP: format inspection, crash recovery, quotas under concurrency and the
in-process client other services use."""

from __future__ import annotations

import os
import struct
import threading
import uuid

import pytest

from onestack import migrations
from onestack.core.bus import InProcessBus
from onestack.core.context import RequestContext
from onestack.core.db import make_engine
from onestack.core.errors import ApiError, RequestEntityTooLarge
from onestack.core.testing.client import make_settings
from onestack.core.uow import UnitOfWorkFactory
from onestack.image.client import ImageClient
from onestack.image.model import Image
from onestack.image.service import data, formats

from .conftest import qcow2_bytes


@pytest.fixture
def deps(tmp_path):
    settings = make_settings(str(tmp_path / "data"))
    settings.data_path.mkdir(parents=True)
    engine = make_engine(settings.database_url)
    migrations.upgrade(engine)
    client = ImageClient(settings, UnitOfWorkFactory(engine, InProcessBus()))
    limits: dict[str, int] = {}
    client.limit = lambda resource, project_id: limits.get(resource)  # type: ignore[method-assign]
    client.limits = limits  # type: ignore[attr-defined]
    yield client
    client.close()
    engine.dispose()


def ctx(project: str) -> RequestContext:
    return RequestContext(user_id="u-" + project, project_id=project, roles=("member", "reader"))


# -- formats --------------------------------------------------------------------------------------


def test_inspect_qcow2_virtual_size():
    found = formats.inspect(qcow2_bytes(10 << 30), b"", 4096)
    assert found == formats.Detected("qcow2", 10 << 30, None)


def test_inspect_qcow2_backing_file_unsafe():
    found = formats.inspect(qcow2_bytes(backing=True), b"", 4096)
    assert found.unsafe and formats.mismatch("qcow2", found)


def test_inspect_qcow2_data_file_unsafe():
    head = bytearray(qcow2_bytes())
    head[72:80] = struct.pack(">Q", 1 << 2)
    found = formats.inspect(bytes(head), b"", 4096)
    assert found.unsafe and "data file" in found.unsafe


def test_inspect_vmdk_vhd_vdi_iso():
    vmdk = b"KDMV" + struct.pack("<I", 1) + struct.pack("<I", 3) + struct.pack("<Q", 2048) + b"\0" * 100
    assert formats.inspect(vmdk, b"", 1000) == formats.Detected("vmdk", 2048 * 512)
    footer = b"conectix" + b"\0" * 40 + struct.pack(">Q", 1 << 20) + b"\0" * 456
    assert formats.inspect(b"\0" * 1024, footer, 4096) == formats.Detected("vhd", 1 << 20)
    vdi = bytearray(0x200)
    vdi[0x40:0x44] = struct.pack("<I", 0xBEDA107F)
    vdi[0x170:0x178] = struct.pack("<Q", 123456)
    assert formats.inspect(bytes(vdi), b"", 512) == formats.Detected("vdi", 123456)
    iso = bytearray(0x9000)
    iso[0x8001:0x8006] = b"CD001"
    iso[0x8050:0x8054] = struct.pack("<I", 100)
    iso[0x8080:0x8082] = struct.pack("<H", 2048)
    assert formats.inspect(bytes(iso), b"", len(iso)) == formats.Detected("iso", 204800)


def test_inspect_raw_is_size():
    assert formats.inspect(os.urandom(1000), b"", 1000) == formats.Detected("raw", 1000)


@pytest.mark.parametrize("declared,found,ok", [
    ("raw", "raw", True), ("qcow2", "qcow2", True), ("raw", "qcow2", False), ("qcow2", "raw", False),
    ("vmdk", "raw", False), ("raw", "iso", True), ("iso", "raw", True), ("ami", "qcow2", True),
    ("aki", "raw", True),
])
def test_mismatch_rules(declared, found, ok):
    assert (formats.mismatch(declared, formats.Detected(found, 1)) is None) is ok


# -- recovery -------------------------------------------------------------------------------------


def test_recover_after_crash_requeues_and_removes_partial_data(deps):
    owner = uuid.uuid4().hex
    saving = deps.create_image(ctx(owner), name="saving", disk_format="raw", container_format="bare")
    session = data.begin_upload(deps, ctx(owner), saving["id"])
    session.write(b"half of it")  # the process dies here
    committed = deps.create_image(ctx(owner), name="renamed-not-recorded", disk_format="raw",
                                  container_format="bare")
    deps.store.add(committed["id"], [b"orphan"])  # renamed into place, but the commit never happened
    active = deps.create_image(ctx(owner), name="active", disk_format="raw", container_format="bare")
    deps.upload_image_data(active["id"], [b"kept"])
    stray = str(uuid.uuid4())
    deps.store.add(stray, [b"no row"])

    report = data.recover(deps)

    assert report["partial"] == 1 and report["requeued"] == 1 and report["orphans"] == 2
    assert deps.get_image(None, saving["id"])["status"] == "queued"
    assert not list((deps.store.root / ".partial").iterdir())
    assert deps.store.ids() == [active["id"]]
    assert b"".join(deps.open_image_data(active["id"])) == b"kept"
    # the re-queued image can be uploaded again
    assert deps.upload_image_data(saving["id"], [b"whole"])["status"] == "active"


def test_recover_staged_image_keeps_staged_data(deps):
    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
    data.write_all(data.begin_stage(deps, ctx(owner), image["id"]), [b"staged"])
    data.recover(deps)
    assert deps.get_image(None, image["id"])["status"] == "uploading"
    data.import_image(deps, ctx(owner), image["id"], "glance-direct")
    assert deps.get_image(None, image["id"])["status"] == "active"


# -- quotas ---------------------------------------------------------------------------------------


def test_concurrent_uploads_hold_size_quota(deps):
    owner = uuid.uuid4().hex
    deps.limits["image_size_total"] = 1  # MiB
    ids = [deps.create_image(ctx(owner), disk_format="raw", container_format="bare")["id"] for _ in range(4)]
    sessions = [data.begin_upload(deps, ctx(owner), i) for i in ids]  # all start under the limit
    results: list[object] = [None] * len(ids)
    barrier = threading.Barrier(len(ids))

    def run(n: int) -> None:
        barrier.wait()
        try:
            data.write_all(sessions[n], [b"z" * 400000])
            results[n] = "ok"
        except ApiError as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r == "ok"]
    assert len(ok) == 2  # 2 x 400000 fits in 1 MiB, a third would not
    assert all(isinstance(r, RequestEntityTooLarge) for r in results if r != "ok")
    statuses = sorted(deps.get_image(None, i)["status"] for i in ids)
    assert statuses == ["active", "active", "queued", "queued"]
    assert len(deps.store.ids()) == 2


def test_concurrent_creates_hold_count_quota(deps):
    owner = uuid.uuid4().hex
    deps.limits["image_count_total"] = 3
    errors: list[Exception] = []

    def run() -> None:
        try:
            deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
        except RequestEntityTooLarge as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 5
    with deps.uow() as uow:
        assert uow.session.query(Image).filter_by(owner=owner).count() == 3


# -- the in-process client ------------------------------------------------------------------------


def test_client_create_upload_read_image(deps):
    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), name="snap", disk_format="qcow2", container_format="bare",
                              visibility="private", image_type="snapshot", instance_uuid=str(uuid.uuid4()))
    assert image["status"] == "queued" and image["image_type"] == "snapshot" and image["owner"] == owner
    payload = qcow2_bytes(1 << 30, total=300000)
    done = deps.upload_image_data(image["id"], iter([payload[:100000], payload[100000:]]))
    assert done["status"] == "active" and done["virtual_size"] == 1 << 30 and done["size"] == 300000
    path = deps.image_data_path(image["id"])
    assert path is not None and path.read_bytes() == payload
    assert b"".join(deps.open_image_data(image["id"])) == payload
    assert deps.get_image(ctx(owner), image["id"])["id"] == image["id"]
    assert deps.get_image(ctx(uuid.uuid4().hex), image["id"]) is None
    assert deps.get_image(None, str(uuid.uuid4())) is None


def test_client_upload_failure_leaves_image_queued(deps):
    image = deps.create_image(None, owner=uuid.uuid4().hex, disk_format="raw", container_format="bare")

    def chunks():
        yield b"part"
        raise OSError("source volume read error")

    with pytest.raises(OSError):
        deps.upload_image_data(image["id"], chunks())
    assert deps.get_image(None, image["id"])["status"] == "queued"
    assert deps.image_data_path(image["id"]) is None
    assert not list((deps.store.root / ".partial").iterdir())


def test_import_methods_only_implemented_ones(deps, monkeypatch):
    monkeypatch.setattr(deps, "settings", deps.settings.__class__(
        enabled_import_methods="web-download, copy-image, glance-direct"))
    assert data.import_methods(deps) == ["web-download", "glance-direct"]


def test_client_find_images_by_name(deps):
    owner = uuid.uuid4().hex
    name = "find-" + uuid.uuid4().hex[:8]
    first = deps.create_image(None, owner=owner, name=name, visibility="public")
    hidden = deps.create_image(ctx(owner), name=name, os_hidden=True, visibility="private")
    deps.create_image(ctx(owner), name=name + "-other")
    found = [i["id"] for i in deps.find_images(name)]
    assert sorted(found) == sorted([first["id"], hidden["id"]])
    assert [i["id"] for i in deps.find_images(name, ctx(uuid.uuid4().hex))] == [first["id"]]
    assert len(deps.find_images()) >= 3


def test_upload_to_image_deleted_meanwhile_gone_and_no_data(deps):
    from onestack.core.errors import Gone
    from onestack.image.service import images as images_svc

    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
    session = data.begin_upload(deps, ctx(owner), image["id"])
    session.write(b"some bytes")
    with deps.uow(write=True) as uow:
        row = images_svc.get_image(uow, None, image["id"])
        images_svc.delete_image(uow, row, lambda image_id: data.delete_data(deps, image_id))
    with pytest.raises(Gone):
        session.finish()
    session.fail()
    assert deps.store.ids() == [] and not list((deps.store.root / ".partial").iterdir())


def test_second_concurrent_upload_same_image_conflict(deps):
    from onestack.core.errors import Conflict

    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
    first = data.begin_upload(deps, ctx(owner), image["id"])
    with pytest.raises(Conflict):
        data.begin_upload(deps, ctx(owner), image["id"])
    data.write_all(first, [b"one"])
    assert b"".join(deps.open_image_data(image["id"])) == b"one"


def test_concurrent_stages_hold_stage_quota(deps):
    owner = uuid.uuid4().hex
    deps.limits["image_stage_total"] = 1  # MiB
    ids = [deps.create_image(ctx(owner), disk_format="raw", container_format="bare")["id"] for _ in range(3)]
    sessions = [data.begin_stage(deps, ctx(owner), i) for i in ids]
    outcomes = []
    for session in sessions:
        try:
            data.write_all(session, [b"s" * 400000])
            outcomes.append("ok")
        except RequestEntityTooLarge:
            outcomes.append("over")
    assert outcomes == ["ok", "ok", "over"]
    assert [deps.get_image(None, i)["status"] for i in ids] == ["uploading", "uploading", "queued"]
    assert sorted(deps.staging.ids()) == sorted(ids[:2])


# -- the upload pipeline --------------------------------------------------------------------------


def test_pipelined_upload_hashes_every_block_in_order(deps):
    import hashlib

    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
    blocks = [os.urandom(n) for n in (1, 70000, 3, 250000, 0, 5000)] * 4
    session = data.begin_upload(deps, ctx(owner), image["id"])
    for block in blocks:
        session.submit([block[:2], block[2:]])  # a block may be a list of buffers
        assert len(session.inflight) <= session.DEPTH or session.backlog() is not None
        while (oldest := session.backlog()) is not None:
            oldest.result()
    stored = session.finish()
    whole = b"".join(blocks)
    assert stored.size == len(whole)
    assert stored.checksum == hashlib.md5(whole).hexdigest()
    assert stored.os_hash_value == hashlib.sha512(whole).hexdigest()
    assert b"".join(deps.open_image_data(image["id"])) == whole


def test_store_error_in_pipeline_fails_upload_and_leaves_nothing(deps, monkeypatch):
    from onestack.image.backends import StoreFull
    from onestack.image.backends.filesystem import FilesystemWriter

    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
    calls = []
    real = FilesystemWriter.writelines

    def flaky(self, parts):
        calls.append(1)
        if len(calls) == 3:
            self.abort()
            raise StoreFull("no space left on device")
        real(self, parts)

    monkeypatch.setattr(FilesystemWriter, "writelines", flaky)
    with pytest.raises(RequestEntityTooLarge):
        data.write_all(data.begin_upload(deps, ctx(owner), image["id"]), [b"x" * 1000] * 50)
    assert deps.get_image(None, image["id"])["status"] == "queued"
    assert deps.store.ids() == [] and not list((deps.store.root / ".partial").iterdir())


def test_lane_runs_in_order_and_reports_errors(deps):
    from onestack.image.service.lanes import Lane, all_of

    lane, seen = Lane(deps.pool), []

    def step(n):
        if n == 5:
            raise ValueError("five")
        seen.append(n)

    futures = [lane.submit(step, n) for n in range(20)]
    assert isinstance(futures[5].exception(timeout=10), ValueError)
    for f in futures[6:]:
        f.result(timeout=10)
    assert seen == [n for n in range(20) if n != 5]
    assert isinstance(all_of(futures[4:7]).exception(timeout=10), ValueError)
    assert all_of(futures[6:9]).result(timeout=10) is None


def test_recover_interrupted_import_is_a_failed_import(deps):
    from onestack.image.service import importing

    owner = uuid.uuid4().hex
    image = deps.create_image(ctx(owner), disk_format="raw", container_format="bare")
    with deps.uow(write=True) as uow:
        row = uow.session.get(Image, image["id"])
        row.status = "importing"
        importing.begin(row, deps.store.id)
    data.recover(deps)
    body = deps.get_image(None, image["id"])
    assert body["status"] == "queued" and "os_glance_import_task" not in body
    assert body["os_glance_failed_import"] == "file" and body["os_glance_importing_to_stores"] == ""
