"""What keeps the state store's cost flat (issue 10; the figures are in
docs/benchmarks.md section 8, never asserted here): the outbox's pass and
gauges are served by indexes, not by a scan of every kept row, and an alert
row that did not change is not written again."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.pool import NullPool

from billing_monitor.alerting import outbox
from billing_monitor.alerting.migrations import migrate
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import alerts
from billing_monitor.alerting.tables import outbox as outbox_table
from tests.alerting_support import (
    T0,
    make_engine,
    options,
    result,
    state_url,
    store,
    store_url,
)

__all__ = ["state_url", "store"]  # fixtures

INDEXES = {"ix_outbox_pending", "ix_outbox_dead", "ix_outbox_created_at"}
PENDING = select(outbox_table.c.id).where(outbox._PENDING).order_by(outbox_table.c.id).limit(5)
DEPTH = outbox.DEPTH  # the gauges' own queries
DEAD = outbox.DEAD


def _plan(engine: Engine, query: object) -> str:
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return " ".join(str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        conn.execute(text("SET enable_seqscan = off"))  # tables this small would be scanned
        return " ".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_an_old_store_gets_the_outbox_indexes_and_the_queries_use_them(state_url: str) -> None:
    old = create_engine(state_url)
    migrate(old, upto=3)
    assert not INDEXES & {i["name"] for i in inspect(old).get_indexes("outbox")}
    old.dispose()
    engine = open_state(state_url)
    assert {i["name"] for i in inspect(engine).get_indexes("outbox")} >= INDEXES
    # The partial indexes' predicates are the queries' own (SQLite uses a
    # partial index only for a WHERE that implies its predicate as written).
    assert "ix_outbox_pending" in _plan(engine, PENDING)
    assert "ix_outbox_pending" in _plan(engine, DEPTH)
    assert "ix_outbox_dead" in _plan(engine, DEAD)
    engine.dispose()


def _updated_at(engine: Engine, key: str) -> object:
    with engine.connect() as conn:
        return conn.execute(select(alerts.c.updated_at)
                            .where(alerts.c.dedup_key == key)).scalar_one()


def test_an_unchanged_degraded_row_is_not_written_again_a_changed_one_is(store: Engine) -> None:
    opts = options()
    key = "billing/unbilled/degraded"
    first = make_engine(store, {"unbilled": opts}, [], owner="host-a")
    first.emit(result("unbilled", 0, T0, opts))
    written = _updated_at(store, key)
    first.emit(result("unbilled", 1, T0 + timedelta(minutes=5), opts))
    assert _updated_at(store, key) == written  # nothing about it changed
    # the main row is still written every run: its streak counts the runs
    with store.connect() as conn:
        ok = conn.execute(select(alerts.c.ok_count).where(alerts.c.kind == "status")).scalar_one()
    assert ok == 2
    # another owner takes the row over: written, with the new owner
    make_engine(store, {"unbilled": opts}, [], owner="host-b").emit(
        result("unbilled", 0, T0 + timedelta(minutes=10), opts))
    with store.connect() as conn:
        owner = conn.execute(select(alerts.c.owner)
                             .where(alerts.c.dedup_key == key)).scalar_one()
    assert owner == "host-b"
    # the check cannot run: the degraded incident's state changes and is written
    second = make_engine(store, {"unbilled": opts}, [], owner="host-b")
    for minutes in (15, 20, 25):
        second.emit(result("unbilled", None, T0 + timedelta(minutes=minutes), opts))
    assert _updated_at(store, key) != written


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_and_the_result_recorded(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """No ping per checkout: the pooled connection's loss is found by the
    transaction that uses it, which is then run again on a new connection."""
    engine = open_state(store_url("postgres", tmp_path, request))
    opts = options()
    alerting = make_engine(engine, {"unbilled": opts}, [])
    alerting.emit(result("unbilled", 0, T0, opts))
    with engine.connect() as conn:  # the pool's one connection, back in the pool after
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = create_engine(engine.url, poolclass=NullPool)
    with other.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    other.dispose()
    alerting.emit(result("unbilled", 1, T0 + timedelta(minutes=5), opts))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        ok = conn.execute(select(alerts.c.ok_count).where(alerts.c.kind == "status")).scalar_one()
    assert ok == 2  # the second run was recorded
    engine.dispose()


def test_a_pooled_sqlite_connection_that_died_is_replaced_and_the_result_recorded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The same path on SQLite: the pooled connection is closed under the
    engine (what a dropped server connection is to PostgreSQL); the run's
    transaction fails on it, is run again once on a new connection, and says so."""
    engine = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    opts = options()
    alerting = make_engine(engine, {"unbilled": opts}, [])
    with engine.connect() as conn:  # the pool's one connection, back in the pool after
        raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.close()
    with caplog.at_level(logging.WARNING, "billing_monitor"):
        alerting.emit(result("unbilled", 0, T0, opts))  # the check's first run
    with engine.connect() as conn:
        row = conn.execute(select(alerts.c.dedup_key, alerts.c.ok_count)
                           .where(alerts.c.kind == "status")).one()
    assert tuple(row) == ("billing/unbilled/2026-W47", 1)  # the run was recorded
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "state store connection lost, reconnecting: "
                          "ProgrammingError: Cannot operate on a closed database.")]
    engine.dispose()
