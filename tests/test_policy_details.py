"""The details of the alert policy and its small companions that the state
store and the notifications carry: the streak a check is in and since when,
when an incident opened, degraded renotifies, a disabled policy's resolves,
how thresholds describe themselves, the previous day, a result as JSON."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from billing_monitor.alerting.policy import NoAlerts
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds
from tests.alerting_support import T0
from tests.test_policy import CRIT, KEY, OK, UNKNOWN, WARN, Driver

DEG = "billing/x/degraded"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)  # Driver runs every 5 minutes from T0 + 5


def test_the_track_knows_its_status_and_since_when() -> None:
    d = Driver(resolve_after=3)
    d.feed(CRIT, CRIT)
    assert (d.track.status, d.track.since, d.track.bad) == (CRIT, at(5), 2)
    d.feed(UNKNOWN, UNKNOWN)
    assert (d.track.status, d.track.since, d.track.unknown, d.track.bad) == (
        UNKNOWN, at(15), 2, 2)
    d.feed(OK)
    assert (d.track.status, d.track.since, d.track.ok, d.track.bad, d.track.unknown) == (
        OK, at(25), 1, 0, 0)
    d.feed(WARN)
    assert (d.track.status, d.track.since, d.track.bad, d.track.ok) == (WARN, at(30), 1, 0)


def test_an_incident_remembers_when_it_opened_and_was_last_notified() -> None:
    d = Driver(trigger_after=2, degraded_after=1)
    d.feed(CRIT, CRIT, WARN)
    assert (d.track.main.opened_at, d.track.main.last_notified_at) == (at(10), at(15))
    d.feed(UNKNOWN)
    assert d.track.degraded.opened_at == at(20)


def test_the_degraded_incident_is_renotified_too() -> None:
    d = Driver(degraded_after=1, renotify_minutes=10)
    assert d.feed(UNKNOWN) == [("trigger", "degraded", DEG, "warning")]
    assert d.feed(UNKNOWN) == []
    assert d.feed(UNKNOWN) == [("trigger", "renotify", DEG, "warning")]


def test_a_silence_mutes_the_degraded_alert_too() -> None:
    d = Driver(degraded_after=1)
    assert d.feed(UNKNOWN, UNKNOWN, muted=True) == []
    assert d.feed(UNKNOWN) == [("trigger", "degraded", DEG, "warning")]


def test_disabling_alerts_resolves_an_open_degraded_incident_once() -> None:
    d = Driver(degraded_after=1)
    d.feed(CRIT, UNKNOWN)
    d.policy = NoAlerts()
    assert d.feed(UNKNOWN) == [("resolve", "resolve", KEY, "critical"),
                               ("resolve", "resolve", DEG, "warning")]
    assert d.feed(UNKNOWN, CRIT) == []
    assert not d.track.degraded.open and d.track.degraded.notified is None


def test_a_resolve_event_says_which_incident_it_closes() -> None:
    d = Driver(degraded_after=1)
    d.feed(UNKNOWN)
    out = d.policy.step(d.track, d.obs(OK), False)
    assert [(e.key, e.kind) for e in out.events] == [(DEG, "degraded")]


def test_thresholds_describe_themselves() -> None:
    assert Thresholds(warning=5, critical=10).describe() == "warn > 5, crit > 10"
    assert Thresholds(critical=0.25, comparator=">=").describe() == "crit >= 0.25"
    assert Thresholds(warning=100, comparator="<").describe() == "warn < 100"
    assert Thresholds().describe() == "none"
    assert Thresholds(warning=5, critical=10).evaluate(3) == (Status.OK, "")
    assert Thresholds(warning=5, critical=10).evaluate(7) == (Status.WARN, "> 5")


def test_the_previous_day_and_two_periods_back() -> None:
    now = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)
    assert current_period("day", "UTC", now, -1).label == "2026-11-18"
    assert current_period("day", "UTC", now, -2).label == "2026-11-17"
    assert current_period("iso_week", "UTC", now, -2).label == "2026-W45"


def test_a_result_as_json() -> None:
    period = current_period("iso_week", "UTC", T0)
    m = Measurement("unbilled_orders", 12, ("region:eu",), ("o1", "o2"))
    r = CheckResult("unbilled_orders", Status.CRIT, (Evaluation(m, Status.CRIT, "> 10"),),
                    0.1234567, T0, period, error=None)
    assert r.to_dict() == {
        "check": "unbilled_orders", "status": "CRIT", "period": "2026-W47",
        "started_at": "2026-11-19T05:30:00+00:00", "duration_s": 0.123457, "error": None,
        "measurements": [{"name": "unbilled_orders", "value": 12, "tags": ["region:eu"],
                          "status": "CRIT", "threshold": "> 10", "samples": ["o1", "o2"]}],
    }


def test_a_held_resolve_then_broken_again_sends_nothing_new() -> None:
    """PagerDuty never got the resolve (the run that closed it could not
    deliver), so when billing breaks again its alert is still open there:
    no second "open"; a new severity is an update; renotify keeps its clock."""
    d = Driver(renotify_minutes=10)
    assert d.feed(CRIT) == [("trigger", "open", KEY, "critical")]  # +5
    assert d.feed(OK, deliverable=False) == []  # +10: closed, the resolve held
    assert d.feed(CRIT) == [("trigger", "renotify", KEY, "critical")]  # +15: 10 min since +5
    d.feed(OK, deliverable=False)
    assert d.feed(WARN) == [("trigger", "deescalate", KEY, "warning")]


def test_events_say_which_kind_of_incident_they_are_about() -> None:
    d = Driver(degraded_after=1)
    d.feed(CRIT, UNKNOWN)
    out = d.policy.step(d.track, d.obs(CRIT, key="billing/x/2026-W48"), False)
    assert [(e.action, e.key, e.kind) for e in out.events] == [
        ("resolve", KEY, "status"), ("trigger", "billing/x/2026-W48", "status"),
        ("resolve", DEG, "degraded")]
    d = Driver(degraded_after=1)
    d.feed(CRIT, UNKNOWN)
    d.policy = NoAlerts()
    out = d.policy.step(d.track, d.obs(UNKNOWN), False)
    assert [(e.action, e.key, e.kind) for e in out.events] == [
        ("resolve", KEY, "status"), ("resolve", DEG, "degraded")]


def test_a_later_period() -> None:
    now = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)
    assert current_period("iso_week", "UTC", now, 1).label == "2026-W48"


def test_period_bounds_are_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        p = current_period("iso_week", "Europe/Berlin", datetime(2026, 11, 19, tzinfo=UTC))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert p.start_at.utcoffset() == timedelta(0) and p.end_at.utcoffset() == timedelta(0)
    assert p.start_at == datetime(2026, 11, 15, 23, tzinfo=UTC)
