"""A measurement history that refuses the run's values (a real fault: the
database itself rejects the rows) costs the chart a gap, never the page: the
alert state, the last run and the outbox row of the run commit, and the
failure is logged. The history is written inside a SAVEPOINT of the run's
transaction (rows.record_history). SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

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
    head = "measurement history not written for refunds (its alert state is): "
    assert len(errors) == 1 and errors[0].startswith(head)
    assert "history" in errors[0].removeprefix(head)  # the database's own reason
    assert errors[0].removeprefix(head).split(":")[0] in ("IntegrityError", "OperationalError")


def test_a_history_that_refuses_its_prune_keeps_the_run(
        store: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """The hourly prune of the history fails (the database refuses the
    DELETE): logged at ERROR, and the run's state and outbox row commit."""
    checks = {"refunds": options()}
    make_engine(store, checks, ["slack"]).emit(result("refunds", 1.0, T0, checks["refunds"]))
    with store.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'prune refused'; END $$"))
            conn.execute(text("CREATE TRIGGER prune_refused BEFORE DELETE ON measurements "
                              "FOR EACH ROW EXECUTE FUNCTION refuse()"))
        else:
            conn.execute(text("CREATE TRIGGER prune_refused BEFORE DELETE ON measurements "
                              "BEGIN SELECT RAISE(ABORT, 'prune refused'); END"))
    later = T0 + timedelta(days=40)
    with caplog.at_level(logging.ERROR, logger="billing_monitor.state"):
        make_engine(store, checks, ["slack"]).emit(result("refunds", 25.0, later,
                                                          checks["refunds"]))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("measurement history not pruned: ")
    assert "prune refused" in errors[0]
    assert count(store, outbox) == 1  # the page of the later run is queued
    with store.connect() as conn:
        runs = conn.execute(select(check_runs.c.status)).scalars().all()
    assert runs == ["CRIT"]


def test_without_the_fault_the_history_is_written_in_the_same_run(store: Engine) -> None:
    checks = {"refunds": options()}
    make_engine(store, checks, ["slack"]).emit(result("refunds", 25.0, T0, checks["refunds"]))
    assert count(store, measurements) == 2  # the 5-minute and the hourly bucket
    assert count(store, outbox) == 1
