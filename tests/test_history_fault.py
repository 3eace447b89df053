"""A measurement history that refuses the run's values (a real fault: the
database itself rejects the rows) costs the chart a gap, never the page: the
alert state, the last run and the outbox row of the run commit, and the
failure is logged. The history is written inside a SAVEPOINT of the run's
transaction (rows.record_history). SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, Table, func, select, text

from billing_monitor.alerting.tables import alerts, check_runs, measurements, outbox
from tests.alerting_support import T0, make_engine, options, result, state_url, store

__all__ = ["state_url", "store"]  # fixtures


def refuse_history(store: Engine) -> None:
    """The history table refuses every new row, as the database says it."""
    with store.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE measurements ADD CONSTRAINT history_refused "
                              "CHECK (false) NOT VALID"))
        else:
            conn.execute(text("CREATE TRIGGER history_refused BEFORE INSERT ON measurements "
                              "BEGIN SELECT RAISE(ABORT, 'history refused'); END"))


def count(store: Engine, table: Table) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_history_write_failure_keeps_the_alert_state_and_the_outbox_row(
        store: Engine, caplog: pytest.LogCaptureFixture) -> None:
    checks = {"refunds": options()}
    engine = make_engine(store, checks, ["slack"])
    refuse_history(store)
    with caplog.at_level(logging.ERROR, logger="billing_monitor.state"):
        engine.emit(result("refunds", 25.0, T0, checks["refunds"]))
    with store.connect() as conn:
        state = conn.execute(select(alerts.c.check_name, alerts.c.is_open, alerts.c.severity)
                             .where(alerts.c.kind == "status")).all()
        runs = conn.execute(select(check_runs.c.check_name, check_runs.c.status)).all()
    assert [tuple(r) for r in runs] == [("refunds", "CRIT")]
    assert [tuple(r) for r in state] == [("refunds", True, "critical")]  # the incident is open
    assert count(store, outbox) == 1  # the page is queued
    assert count(store, measurements) == 0  # and the history has its gap
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "measurement history not written for refunds" in errors[0]


def test_without_the_fault_the_history_is_written_in_the_same_run(store: Engine) -> None:
    checks = {"refunds": options()}
    make_engine(store, checks, ["slack"]).emit(result("refunds", 25.0, T0, checks["refunds"]))
    assert count(store, measurements) == 2  # the 5-minute and the hourly bucket
    assert count(store, outbox) == 1
