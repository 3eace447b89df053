"""An incident's life through the state store and the real PagerDuty and Slack
notifiers: silences, the degraded alert, counts and hysteresis across
restarts, period rollover, held notifications, a check removed from the
configuration. One fresh engine per run, as separate processes would."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, select

from billing_monitor.alerting import outbox
from billing_monitor.alerting.status import read_status
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import alerts
from billing_monitor.checks.policy import Silence
from tests.alerting_support import (
    T0,
    Clock,
    PagerDuty,
    Slack,
    make_dispatcher,
    make_engine,
    options,
    pd,
    result,
    slack,
    state_url,
    store,
)
from tests.test_alerting import KEY, OPEN, RESOLVE, run

__all__ = ["pd", "slack", "state_url", "store"]  # fixtures

NEW = "billing/unbilled_orders/2026-W48"


def emit(store: Engine, value: float | None, clock: Clock, channels: list[str],
         **alert: object) -> None:
    opts = options(**alert)
    make_engine(store, {"unbilled_orders": opts}, channels).emit(
        result("unbilled_orders", value, clock(), opts))


def test_silenced_check_updates_state_but_notifies_when_the_silence_ends(
    store: Engine, pd: PagerDuty, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "billing_monitor.alerting")
    clock = Clock()
    opts = options()
    window = Silence(check="unbilled_orders", start=T0, end=T0.replace(hour=7),
                     reason="billing migration")
    for _ in range(3):
        make_engine(store, {"unbilled_orders": opts}, ["pagerduty"], silences=[window]).emit(
            result("unbilled_orders", 25, clock(), opts))
        make_dispatcher(store, [pd], clock).dispatch()
        clock.advance(minutes=30)
    assert pd.peer.requests == []
    assert "check unbilled_orders is silenced" in caplog.text
    with store.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.dedup_key == KEY)).one()
    assert row.is_open and row.notified_severity is None
    clock.advance(minutes=30)  # 07:00: the window is over, billing is still broken
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"], silences=[window]).emit(
        result("unbilled_orders", 25, clock(), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN]


def test_degraded_alert_after_k_unknown_runs_and_resolved_by_a_real_run(
    state_url: str, pd: PagerDuty,
) -> None:
    clock = Clock()
    deg = "billing/unbilled_orders/degraded"
    for value in (None, None):
        run(state_url, value, clock, pd, degraded_after=3)
        clock.advance(minutes=5)
    assert pd.events() == []
    run(state_url, None, clock, pd, degraded_after=3)
    assert pd.seen() == [("trigger", "degraded", deg, "warning")]
    assert pd.events()[0]["payload"]["summary"] == (
        "Monitor degraded: billing unbilled_orders could not run 3 times in a row: "
        "OperationalError: connection refused")
    run(state_url, 0, clock.advance(minutes=5) and clock, pd, degraded_after=3)
    assert pd.seen()[1:] == [("resolve", "resolve", deg, None)]


def test_counts_and_hysteresis_survive_restarts(state_url: str, pd: PagerDuty) -> None:
    clock = Clock()
    cfg = {"trigger_after": 3, "resolve_after": 2, "recovery": 4, "warning": None}
    for value in (25, 25, 0, 25, 25):  # the OK breaks the streak: no page yet
        run(state_url, value, clock, pd, **cfg)
        clock.advance(minutes=5)
    assert pd.events() == []
    run(state_url, 25, clock, pd, **cfg)
    assert pd.seen() == [OPEN]
    for value in (7, 7, 3, 7, 3):  # OK but above the recovery level 4 does not count
        clock.advance(minutes=5)
        run(state_url, value, clock, pd, **cfg)
    assert len(pd.events()) == 1
    clock.advance(minutes=5)
    run(state_url, 2, clock, pd, **cfg)
    assert pd.seen()[1:] == [RESOLVE]


def test_period_rollover_resolves_last_weeks_key_and_opens_this_weeks(
    store: Engine, pd: PagerDuty, slack: Slack,
) -> None:
    clock = Clock()
    for _ in range(2):
        emit(store, 25, clock, ["pagerduty", "slack"])
        clock.advance(days=4)  # Thursday W47, then Monday W48
    make_dispatcher(store, [pd, slack], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE, ("trigger", "open", NEW, "critical")]
    assert "RESOLVED: billing unbilled_orders: period of billing/unbilled_orders/2026-W47 " \
           "ended (now 2026-W48)" in slack.texts()[1]
    status = read_status(store, clock(), ["unbilled_orders"])
    assert [i.dedup_key for i in status.incidents] == [NEW]
    emit(store, 0, clock, ["pagerduty"])
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen()[3:] == [("resolve", "resolve", NEW, None)]
    assert read_status(store, clock(), ["unbilled_orders"]).incidents == []


def test_non_period_scoped_check_keeps_one_key_across_weeks(store: Engine,
                                                            pd: PagerDuty) -> None:
    clock = Clock()
    for _ in range(3):
        emit(store, 25, clock, ["pagerduty"], period_scoped=False)
        clock.advance(days=4)
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", "billing/unbilled_orders", "critical")]


def test_a_new_period_after_a_resolved_incident_pages_once(store: Engine,
                                                           pd: PagerDuty) -> None:
    clock = Clock()
    for value, days in ((25, 0), (0, 1), (25, 3), (25, 0), (25, 0), (25, 0)):
        clock.advance(days=days, minutes=5)  # W47 opens and resolves; then W48 fails
        emit(store, value, clock, ["pagerduty"])
        make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE, ("trigger", "open", NEW, "critical")]


def test_three_billing_weeks_in_a_row_page_once_a_week(store: Engine, pd: PagerDuty) -> None:
    clock = Clock()
    for _ in range(3):  # Thursday W47, Monday W48, Friday W48 ... Monday W49, then again
        emit(store, 25, clock, ["pagerduty"])
        clock.advance(days=4)
    emit(store, 25, clock.advance(hours=1) and clock, ["pagerduty"])  # W49, a rerun
    make_dispatcher(store, [pd], clock).dispatch()
    w49 = "billing/unbilled_orders/2026-W49"
    assert pd.seen() == [OPEN, RESOLVE, ("trigger", "open", NEW, "critical"),
                         ("resolve", "resolve", NEW, None), ("trigger", "open", w49, "critical")]


def test_only_a_run_without_a_notifier_warns_that_it_holds_alerts(
    store: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    emit(store, 25, clock, ["pagerduty"])
    emit(store, 0, clock, [])  # OK: nothing to hold, nothing to say
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    emit(store, 25, clock.advance(minutes=1) and clock, [])
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "no notifier is configured in this process: alerts for unbilled_orders are held "
        "for a run that has one"]


def test_a_run_without_any_notifier_holds_alerts_for_a_run_that_has_one(
    store: Engine, pd: PagerDuty, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    emit(store, 25, clock, [])
    assert "alerts for unbilled_orders are held" in caplog.text
    assert outbox.stats(store, clock()).depth == 0
    for value in (25, 0):  # the daemon, with PagerDuty configured
        clock.advance(minutes=5)
        emit(store, value, clock, ["pagerduty"])
        make_dispatcher(store, [pd], clock).dispatch()
    clock.advance(minutes=5)
    emit(store, 25, clock, [])  # manual run again, billing broken ...
    clock.advance(minutes=5)
    emit(store, 0, clock, [])  # ... and fixed before the daemon runs
    clock.advance(minutes=5)
    emit(store, 25, clock, ["pagerduty"])
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE, OPEN]


def test_a_held_resolve_is_sent_by_the_next_run_that_can(store: Engine, pd: PagerDuty) -> None:
    clock = Clock()
    emit(store, 25, clock, ["pagerduty"])
    emit(store, 0, clock.advance(minutes=5) and clock, [])
    emit(store, 0, clock.advance(minutes=5) and clock, ["pagerduty"])
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE]


def test_removing_a_failing_check_from_the_config_resolves_its_incident(
    state_url: str, pd: PagerDuty, slack: Slack,
) -> None:
    clock = Clock()
    run(state_url, 25, clock, pd, slack)  # billing/unbilled_orders/... is open and was sent
    engine = open_state(state_url)
    other = {"failed_charges": options()}
    # A process without a notifier leaves it alone: it could not send the resolve.
    assert make_engine(engine, other, []).retire_removed(clock()) == []
    retire = make_engine(engine, other, ["pagerduty", "slack"]).retire_removed(
        clock.advance(minutes=1))
    assert retire == [KEY]
    assert make_engine(engine, other, ["pagerduty"]).retire_removed(clock()) == []  # once
    make_dispatcher(engine, [pd, slack], clock).dispatch()
    engine.dispose()
    assert pd.seen() == [OPEN, RESOLVE]
    assert pd.peer.open_alerts() == []
    assert "RESOLVED: billing unbilled_orders: the check was removed from the configuration" \
        in slack.texts()[1]


def test_an_open_incident_keeps_when_it_opened_through_later_runs(store: Engine) -> None:
    """`status` and the status page show when an incident opened (and its age)
    however many runs later: the opening time is carried from run to run."""
    clock = Clock()
    opened = clock()
    emit(store, 25, clock, ["pagerduty"])
    for value in (30, 12, 25):  # still failing, severity changes in between
        emit(store, value, clock.advance(minutes=5) and clock, ["pagerduty"])
    [incident] = read_status(store, clock(), ["unbilled_orders"]).incidents
    assert (incident.dedup_key, incident.opened_at) == (KEY, opened)
