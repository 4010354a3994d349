"""Pooled connections to MariaDB/PostgreSQL: a connection cut by the server while idle is replaced at checkout,
without a ping round trip on every checkout of a connection in steady use."""

import pytest
from sqlalchemy import exc, text

from onestack.core import db
from onestack.core.testing.databases import throwaway_database


@pytest.fixture(params=["mariadb", "postgresql"])
def engine(request, tmp_path):
    with throwaway_database(request.param, str(tmp_path)) as url:
        engine = db.make_engine(url)
        yield engine
        engine.dispose()


def _backend_id(conn) -> int:
    sql = "SELECT CONNECTION_ID()" if conn.dialect.name == "mysql" else "SELECT pg_backend_pid()"
    return conn.execute(text(sql)).scalar_one()


def _idle_connection_killed_by_server(engine) -> int:
    """Leave one pooled connection idle and have the server end it, as a restart or a proxy timeout would."""
    with engine.connect() as conn:
        victim = _backend_id(conn)
    with engine.connect() as conn:  # the pool hands the idle connection back first (LIFO)
        assert _backend_id(conn) == victim
    with engine.connect() as a, engine.connect() as killer:  # a: the victim again; killer: a second connection
        assert _backend_id(a) == victim
        a.rollback()
    killer_sql = (f"KILL {victim}" if engine.dialect.name == "mysql" else f"SELECT pg_terminate_backend({victim})")
    with engine.connect() as killer:  # both are idle now: LIFO gives the killer the connection checked in last
        assert _backend_id(killer) != victim
        killer.execute(text(killer_sql))
        killer.commit()
    return victim


def test_a_connection_killed_while_idle_is_replaced_at_checkout(engine, monkeypatch):
    victim = _idle_connection_killed_by_server(engine)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # both pooled connections count as idle for long
    for _ in range(3):  # whichever connection a checkout gets, it answers
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":  # and the ping left no transaction open on it
                import psycopg

                status = conn.connection.dbapi_connection.info.transaction_status
                assert status == psycopg.pq.TransactionStatus.IDLE
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            assert _backend_id(conn) != victim


def test_a_connection_in_steady_use_is_not_pinged(engine):
    """No ping below the idle threshold: the killed connection's next use fails (once; the pool then recovers)."""
    _idle_connection_killed_by_server(engine)
    failures = 0
    for _ in range(3):
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except exc.DBAPIError as error:
            assert error.connection_invalidated
            failures += 1
    assert failures == 1


def test_postgresql_read_scopes_run_without_a_transaction(tmp_path):
    """BEGIN and ROLLBACK around a read scope would be two round trips buying no consistency under READ COMMITTED."""
    import psycopg

    from onestack.core.bus import InProcessBus
    from onestack.core.uow import UnitOfWorkFactory

    with throwaway_database("postgresql", str(tmp_path)) as url:
        engine = db.make_engine(url)
        try:
            uow = UnitOfWorkFactory(engine, InProcessBus())
            states = {}
            for write in (False, True):
                with uow(write=write) as scope:
                    scope.session.execute(text("SELECT 1"))
                    raw = scope.session.connection().connection.dbapi_connection
                    states[write] = raw.info.transaction_status
            assert states == {False: psycopg.pq.TransactionStatus.IDLE, True: psycopg.pq.TransactionStatus.INTRANS}
        finally:
            engine.dispose()
