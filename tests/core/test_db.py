"""SQLite in WAL mode under concurrency: writers from many threads never see "database is locked"."""

import threading
import time

import pytest
from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from onestack.core.bus import InProcessBus
from onestack.core.db import make_engine
from onestack.core.uow import UnitOfWorkFactory


class _Base(DeclarativeBase):  # a private metadata: nothing leaks into the application's tables
    pass


class Counter(_Base):
    __tablename__ = "test_counter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Row(_Base):
    __tablename__ = "test_row"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    writer: Mapped[str] = mapped_column(String(32))


@pytest.fixture
def uow(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    _Base.metadata.create_all(engine)
    from onestack.core.uow import OutboxEvent

    OutboxEvent.__table__.create(engine)
    factory = UnitOfWorkFactory(engine, InProcessBus())
    with factory(write=True) as w:
        w.session.add(Counter(id=1, value=0))
    yield factory
    engine.dispose()


def _run_threads(count: int, target) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def wrapped(n: int) -> None:
        start.wait()
        try:
            target(n)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_sqlite_runs_in_wal_mode(uow):
    with uow() as r:
        assert r.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert r.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_concurrent_writers_never_see_database_locked(uow):
    threads, writes = 16, 25

    def writer(n: int) -> None:
        for _ in range(writes):
            with uow(write=True) as w:
                # Read-then-write: the upgrade from a read to a write lock is what fails with "database is
                # locked" under a deferred BEGIN; an IMMEDIATE transaction takes the write lock up front.
                counter = w.session.get(Counter, 1)
                counter.value += 1
                w.session.add(Row(writer=f"t{n}"))
                w.emit("test", str(n))

    errors = _run_threads(threads, writer)
    assert errors == []
    with uow() as r:
        assert r.session.get(Counter, 1).value == threads * writes  # no lost update either
        assert len(r.session.scalars(select(Row)).all()) == threads * writes


def test_concurrent_readers_and_writers(uow):
    seen: list[int] = []

    def worker(n: int) -> None:
        for _ in range(20):
            if n % 2:
                with uow(write=True) as w:
                    w.session.get(Counter, 1).value += 1
            else:
                with uow() as r:
                    seen.append(r.session.get(Counter, 1).value)

    assert _run_threads(12, worker) == []
    assert seen == [v for v in seen if 0 <= v <= 120]
    with uow() as r:
        assert r.session.get(Counter, 1).value == 120


def test_reader_is_not_blocked_by_open_write_transaction(uow):
    entered, release, committed = threading.Event(), threading.Event(), threading.Event()

    def hold_write_lock() -> None:
        with uow(write=True) as w:
            w.session.get(Counter, 1).value = 42
            w.flush()
            entered.set()
            release.wait(120)
        committed.set()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    try:
        assert entered.wait(10)
        with uow() as r:
            assert r.session.get(Counter, 1).value == 0  # readers see the last committed state
        # the read finished while the write transaction was still open (it did not wait for the commit)
        assert not committed.is_set()
    finally:
        release.set()
        holder.join()
    with uow() as r:
        assert r.session.get(Counter, 1).value == 42


def test_write_unit_of_work_rolls_back_on_error(uow):
    with pytest.raises(RuntimeError), uow(write=True) as w:
        w.session.get(Counter, 1).value = 99
        raise RuntimeError("boom")
    with uow() as r:
        assert r.session.get(Counter, 1).value == 0


def test_read_unit_of_work_never_commits(uow):
    with uow() as r:
        r.session.get(Counter, 1).value = 7
        r.flush()
    with uow() as r:
        assert r.session.get(Counter, 1).value == 0


def test_events_published_only_after_commit(uow):
    received: list[str] = []
    uow.bus.subscribe("topic", lambda topic, key: received.append(key))
    with pytest.raises(RuntimeError), uow(write=True) as w:
        w.emit("topic", "rolled-back")
        raise RuntimeError("boom")
    with uow(write=True) as w:
        w.emit("topic", "committed")
        assert received == []
    assert received == ["committed"]


def test_published_outbox_rows_are_deleted_by_the_next_write_not_a_transaction_of_their_own(uow):
    from sqlalchemy import event

    from onestack.core.uow import OutboxEvent

    received: list[str] = []
    uow.bus.subscribe("topic", lambda topic, key: received.append(key))
    begins: list[str] = []
    event.listen(uow.engine, "begin", lambda conn: begins.append("begin"))
    with uow(write=True) as w:
        w.emit("topic", "a")
        w.emit("topic", "a")  # duplicates collapse: one hint
        w.emit("topic", "b")
    assert received == ["a", "b"] and len(begins) == 1
    with uow() as r:
        assert sorted(r.session.scalars(select(OutboxEvent.key))) == ["a", "b"]  # published, not yet deleted
    with uow(write=True) as w:
        w.emit("topic", "c")
    with uow() as r:
        assert list(r.session.scalars(select(OutboxEvent.key))) == ["c"]
    assert received == ["a", "b", "c"]


def test_events_of_one_unit_of_work_are_one_outbox_insert(uow):
    from sqlalchemy import event

    from onestack.core.uow import OutboxEvent

    inserts: list[str] = []
    event.listen(uow.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: inserts.append(sql) if "INSERT INTO outbox" in sql
                 else None)
    with uow(write=True) as w:
        for key in ("x", "y", "z"):
            w.emit("topic", key)
    assert len(inserts) == 1
    with uow() as r:  # the ids taken (deleted by the next write) are the rows' own, in order
        rows = r.session.execute(select(OutboxEvent.id, OutboxEvent.key).order_by(OutboxEvent.id)).all()
    assert [key for _, key in rows][-3:] == ["x", "y", "z"]
    assert sorted(uow._published[-3:]) == [row.id for row in rows[-3:]]


def test_a_bare_read_connection_sees_committed_rows_and_never_commits(uow):
    from sqlalchemy import delete

    from onestack.core.uow import OutboxEvent

    with uow(write=True) as w:
        w.emit("topic", "kept")
    with uow.connect() as conn:
        assert "kept" in conn.execute(select(OutboxEvent.key)).scalars().all()
        conn.execute(delete(OutboxEvent.__table__))  # a reader's stray write: rolled back at the end
    with uow() as r:
        assert "kept" in r.session.scalars(select(OutboxEvent.key)).all()


def test_write_turns_are_taken_in_arrival_order():
    from onestack.core.db import WriteTurns

    turns = WriteTurns()
    assert turns.acquire()
    order: list[int] = []

    def writer(n: int) -> None:
        assert turns.acquire()
        order.append(n)
        turns.release()

    threads = []
    for n in range(5):  # each one queued before the next starts
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while len(turns._waiters) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    turns.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]


def test_write_turn_wait_gives_up_after_timeout():
    from onestack.core.db import WriteTurns

    turns = WriteTurns(timeout=0.01)
    assert turns.acquire()
    assert turns.acquire() is False  # then SQLite's busy handler decides
    assert not turns._waiters
    turns.release()
    assert turns.acquire()


def test_writers_of_one_process_wait_for_their_turn_not_on_sqlite_busy_handler(tmp_path):
    from sqlalchemy import event

    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_conn, _record):  # a writer reaching SQLite's lock now fails at once
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    _Base.metadata.create_all(engine)
    from onestack.core.uow import OutboxEvent

    OutboxEvent.__table__.create(engine)
    factory = UnitOfWorkFactory(engine, InProcessBus())
    with factory(write=True) as w:
        w.session.add(Counter(id=1, value=0))
    try:
        def writer(n: int) -> None:
            for _ in range(10):
                with factory(write=True) as w:
                    w.session.get(Counter, 1).value += 1
            with pytest.raises(RuntimeError), factory(write=True) as w:  # a rollback passes the turn on too
                w.session.get(Counter, 1).value += 100
                raise RuntimeError("boom")

        assert _run_threads(8, writer) == []
        with factory() as r:
            assert r.session.get(Counter, 1).value == 80
    finally:
        engine.dispose()
