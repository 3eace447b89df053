"""What the state store holds after runs, as `billing-monitor status` shows it
and as the rows say: each check's last run (the worst value, the error), the
open incidents with when they opened and whether they were notified, and the
streak the check is in. Fresh engine objects for every run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from billing_monitor.alerting.status import CheckRow, IncidentRow, read_status
from billing_monitor.alerting.tables import alerts, check_runs
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement
from billing_monitor.checks.period import current_period
from billing_monitor.checks.policy import Silence
from tests.alerting_support import (
    T0,
    Clock,
    PagerDuty,
    make_dispatcher,
    make_engine,
    options,
    pd,
    result,
    state_url,
    store,
)

__all__ = ["pd", "state_url", "store"]  # fixtures

KEY = "billing/unbilled_orders/2026-W47"
CHECKS: dict[str, CheckOptions] = {"unbilled_orders": options(resolve_after=2, degraded_after=2),
                                   "failed_charges": options()}


def by_region(clock: Clock, us: float, eu: float) -> CheckResult:
    """unbilled_orders measured per region; the worst is not the first."""
    opts = CHECKS["unbilled_orders"]
    evals = []
    for region, value in (("us", us), ("eu", eu)):
        status, crossed = opts.thresholds.evaluate(value)
        evals.append(Evaluation(Measurement("unbilled_orders", value, (f"region:{region}",)),
                                status, crossed))
    return CheckResult("unbilled_orders", max(e.status for e in evals), tuple(evals), 0.25,
                       clock(), current_period("iso_week", "UTC", clock()))


def emit(store: Engine, r: CheckResult, pd: PagerDuty, clock: Clock) -> None:
    make_engine(store, CHECKS, ["pagerduty"]).emit(r)
    make_dispatcher(store, [pd], clock).dispatch()


def alert_row(store: Engine, key: str = KEY) -> dict[str, Any]:
    with store.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.dedup_key == key)).one()
    return {k: row._mapping[k] for k in ("status", "bad_count", "ok_count", "unknown_count",
                                         "is_open", "severity", "notified_severity")}


def test_status_shows_each_checks_last_run_and_the_open_incidents(
    store: Engine, pd: PagerDuty,
) -> None:
    clock = Clock()
    emit(store, by_region(clock, 7, 25), pd, clock)
    emit(store, result("failed_charges", None, clock(), CHECKS["failed_charges"]), pd, clock)
    report = read_status(store, clock(), ["unbilled_orders", "failed_charges", "refunds"])
    assert report.checks == [
        CheckRow("unbilled_orders", "CRIT", 25.0, "2026-W47", T0, None),
        CheckRow("failed_charges", "UNKNOWN", None, "2026-W47", T0,
                 "OperationalError: connection refused"),
        CheckRow("refunds", "NEVER RUN", None, "", report.checks[2].last_run, None),
    ]
    assert report.incidents == [IncidentRow(KEY, "unbilled_orders", "status", "critical", T0,
                                            True, False, "pagerduty: delivered")]
    clock.advance(minutes=5)  # the next run replaces the last one
    emit(store, by_region(clock, 6, 2), pd, clock)
    assert read_status(store, clock()).checks[1] == CheckRow(
        "unbilled_orders", "WARN", 6.0, "2026-W47", T0 + timedelta(minutes=5), None)
    with store.connect() as conn:
        stored = conn.execute(select(check_runs.c.result)
                              .where(check_runs.c.check_name == "unbilled_orders")).scalar_one()
    assert [(m["tags"], m["value"], m["status"]) for m in stored["measurements"]] == [
        (["region:us"], 6, "WARN"), (["region:eu"], 2, "OK")]


def test_the_rows_keep_the_streak_across_runs(store: Engine, pd: PagerDuty) -> None:
    clock, opts = Clock(), CHECKS["unbilled_orders"]

    def run(value: float | None) -> None:
        emit(store, result("unbilled_orders", value, clock(), opts), pd, clock)
        clock.advance(minutes=5)

    run(25)
    run(None)
    assert alert_row(store) == {"status": "UNKNOWN", "bad_count": 1, "ok_count": 0,
                                "unknown_count": 1, "is_open": True, "severity": "critical",
                                "notified_severity": "critical"}
    run(0)
    assert {**alert_row(store), "status": "-"} == {
        "status": "-", "bad_count": 0, "ok_count": 1, "unknown_count": 0, "is_open": True,
        "severity": "critical", "notified_severity": "critical"}
    run(0)
    assert alert_row(store)["is_open"] is False
    assert alert_row(store)["notified_severity"] is None
    assert [e["event_action"] for e in pd.events()] == ["trigger", "resolve"]


def test_an_ok_run_is_recorded_as_ok(store: Engine, pd: PagerDuty) -> None:
    clock, opts = Clock(), CHECKS["unbilled_orders"]
    emit(store, result("unbilled_orders", 0, clock(), opts), pd, clock)
    assert alert_row(store)["status"] == "OK"


def test_the_degraded_incident_shows_when_it_opened(store: Engine, pd: PagerDuty) -> None:
    clock, opts = Clock(), CHECKS["unbilled_orders"]
    for _ in range(3):
        emit(store, result("unbilled_orders", None, clock(), opts), pd, clock)
        clock.advance(minutes=5)
    (incident,) = read_status(store, clock()).incidents
    assert (incident.dedup_key, incident.kind, incident.opened_at, incident.notified) == (
        "billing/unbilled_orders/degraded", "degraded", T0 + timedelta(minutes=5), True)


def test_a_silenced_incident_does_not_outlive_its_week(store: Engine, pd: PagerDuty) -> None:
    """Opened while silenced (never notified), then the week ends: the old
    key is closed in the store, and only the new week's incident is open."""
    clock, opts = Clock(), CHECKS["failed_charges"]
    window = Silence(check="*", start=T0, end=T0 + timedelta(days=10), reason="migration")
    for _ in range(2):  # Thursday of W47, then Monday of W48
        make_engine(store, CHECKS, ["pagerduty"], silences=[window]).emit(
            result("failed_charges", 25, clock(), opts))
        clock.advance(days=4)
    assert [(i.dedup_key, i.notified) for i in read_status(store, clock()).incidents] == [
        ("billing/failed_charges/2026-W48", False)]
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.peer.requests == []
