"""The alert policy as a pure state machine: counts, hysteresis, escalation,
degraded, silences, renotify, period rollover. No database needed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from billing_monitor.alerting.engine import dedup_key, recovered
from billing_monitor.alerting.policy import (
    Incident,
    NoAlerts,
    Observation,
    ThresholdPolicy,
    Track,
    policy_for,
)
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import Status
from billing_monitor.checks.policy import AlertPolicy, Silence
from tests.alerting_support import T0, options, result

OK, WARN, CRIT, UNKNOWN = Status.OK, Status.WARN, Status.CRIT, Status.UNKNOWN
KEY = "billing/x/2026-W47"


class Driver:
    """Feeds statuses through a policy, keeping state like the store does."""

    def __init__(self, **cfg: object) -> None:
        self.policy = policy_for(AlertPolicy.model_validate(cfg))
        self.track = Track("x", Incident(KEY), Incident("billing/x/degraded"))
        self.at = T0

    def obs(self, status: Status, key: str = KEY) -> Observation:
        self.at += timedelta(minutes=5)
        return Observation(status, key, True, self.at, True)

    def feed(self, *statuses: Status, key: str = KEY, recovered: bool = True,
             muted: bool = False, deliverable: bool = True) -> list[tuple[str, str, str, str]]:
        out = []
        for status in statuses:
            self.at += timedelta(minutes=5)
            obs = Observation(status, key, recovered, self.at, deliverable)
            o = self.policy.step(self.track, obs, muted)
            self.track = o.track
            out += [(e.action, e.reason, e.key, e.severity) for e in o.events]
        return out


def test_trigger_after_n_consecutive_non_ok_runs() -> None:
    d = Driver(trigger_after=3)
    assert d.feed(CRIT, CRIT, OK, CRIT, WARN) == []  # the OK broke the streak
    assert d.feed(CRIT) == [("trigger", "open", KEY, "critical")]
    assert d.feed(CRIT, CRIT) == []


def test_unknown_neither_counts_towards_nor_breaks_a_streak() -> None:
    d = Driver(trigger_after=2)
    assert d.feed(CRIT, UNKNOWN, UNKNOWN) == []
    assert d.feed(CRIT) == [("trigger", "open", KEY, "critical")]
    assert d.feed(UNKNOWN, UNKNOWN) == []  # no info: the incident stays open, no resolve


def test_resolve_after_m_consecutive_ok_runs() -> None:
    d = Driver(resolve_after=3)
    d.feed(CRIT)
    assert d.feed(OK, OK, CRIT, OK, OK) == []
    assert d.feed(OK) == [("resolve", "resolve", KEY, "critical")]


def test_ok_short_of_the_recovery_level_holds_the_incident_open() -> None:
    d = Driver(resolve_after=2)
    d.feed(CRIT)
    assert d.feed(OK, OK, OK, recovered=False) == []
    assert d.feed(OK, recovered=True) == []
    assert d.feed(OK, recovered=True) == [("resolve", "resolve", KEY, "critical")]


def test_recovered_uses_the_threshold_comparator() -> None:
    opts = options(critical=10, warning=None, recovery=4)
    assert not recovered(result("x", 7, T0, opts), opts)  # OK (< 10) but above 4
    assert recovered(result("x", 4, T0, opts), opts)
    low = CheckOptions(type="sql", thresholds={"critical": 100, "comparator": "<"},
                       alert={"recovery": 150})
    assert not recovered(result("x", 120, T0, low), low)
    assert recovered(result("x", 150, T0, low), low)
    assert recovered(result("x", 7, T0, options()), options())  # no level: any OK


def test_warn_to_crit_and_back_is_the_same_incident() -> None:
    d = Driver()
    assert d.feed(WARN, WARN, CRIT, CRIT, WARN, OK) == [
        ("trigger", "open", KEY, "warning"),
        ("trigger", "escalate", KEY, "critical"),
        ("trigger", "deescalate", KEY, "warning"),
        ("resolve", "resolve", KEY, "warning"),
    ]


def test_degraded_after_k_unknown_runs_is_a_separate_warning_incident() -> None:
    d = Driver(degraded_after=2)
    d.feed(CRIT)
    deg = "billing/x/degraded"
    assert d.feed(UNKNOWN) == []
    assert d.feed(UNKNOWN, UNKNOWN) == [("trigger", "degraded", deg, "warning")]
    assert d.track.main.open  # the billing incident is untouched
    assert d.feed(CRIT) == [("resolve", "resolve", deg, "warning")]


def test_silence_mutes_triggers_but_not_the_resolve_of_a_notified_incident() -> None:
    d = Driver()
    assert d.feed(CRIT, muted=True) == []
    assert d.track.main.open and d.track.main.notified is None
    assert d.feed(OK, muted=True) == []  # never notified: nothing to resolve
    d.feed(CRIT)
    assert d.feed(OK, muted=True) == [("resolve", "resolve", KEY, "critical")]


def test_escalation_during_a_silence_is_sent_when_it_ends() -> None:
    d = Driver()
    d.feed(WARN)
    assert d.feed(CRIT, muted=True) == []
    assert d.feed(CRIT) == [("trigger", "escalate", KEY, "critical")]


def test_renotify_while_open() -> None:
    d = Driver(renotify_minutes=12)
    assert d.feed(CRIT) == [("trigger", "open", KEY, "critical")]
    assert d.feed(CRIT, CRIT) == []  # 5 and 10 minutes later
    assert d.feed(CRIT) == [("trigger", "renotify", KEY, "critical")]  # 15 minutes
    assert d.feed(CRIT, CRIT) == []
    assert d.feed(CRIT) == [("trigger", "renotify", KEY, "critical")]


def test_renotify_interval_is_inclusive() -> None:
    d = Driver(renotify_minutes=10)  # runs every 5 minutes
    assert d.feed(CRIT) == [("trigger", "open", KEY, "critical")]
    assert d.feed(CRIT) == []  # +5
    assert d.feed(CRIT) == [("trigger", "renotify", KEY, "critical")]  # +10: due exactly now


def test_recovered_needs_every_measurement_back() -> None:
    from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement

    opts = options(critical=10, warning=None, recovery=4)
    evals = tuple(Evaluation(Measurement("x", v), Status.OK) for v in (2, 7))
    r = CheckResult("x", Status.OK, evals, 0.1, T0, result("x", 0, T0, opts).period)
    assert not recovered(r, opts)  # 2 is back past 4, 7 is not
    evals = tuple(Evaluation(Measurement("x", v), Status.OK) for v in (2, 4))
    assert recovered(CheckResult("x", Status.OK, evals, 0.1, T0, r.period), opts)


def test_period_rollover_resolves_the_old_key_and_opens_the_new_one() -> None:
    d = Driver(trigger_after=2)
    d.feed(CRIT, CRIT)
    new = "billing/x/2026-W48"
    assert d.feed(CRIT, key=new) == [
        ("resolve", "resolve", KEY, "critical"),
        ("trigger", "open", new, "critical"),  # the streak carries over: still broken
    ]


def test_period_rollover_to_a_healthy_period_only_resolves() -> None:
    d = Driver()
    d.feed(WARN)
    assert d.feed(OK, key="billing/x/2026-W48") == [("resolve", "resolve", KEY, "warning")]


def test_period_rollover_waits_for_a_real_result() -> None:
    d = Driver()
    d.feed(CRIT)
    assert d.feed(UNKNOWN, key="billing/x/2026-W48") == []
    assert d.track.main.key == KEY and d.track.main.open


def test_disabled_policy_never_opens_but_resolves_what_was_open() -> None:
    d = Driver()
    d.feed(CRIT)
    d.policy = NoAlerts()
    assert d.feed(OK) == [("resolve", "resolve", KEY, "critical")]
    assert d.feed(CRIT, CRIT, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN) == []
    assert isinstance(policy_for(AlertPolicy(enabled=False)), NoAlerts)
    assert isinstance(policy_for(AlertPolicy()), ThresholdPolicy)


def test_dedup_keys_are_stable_and_never_timestamps() -> None:
    assert dedup_key("billing", "unbilled_orders", "2026-W47", True) == \
        "billing/unbilled_orders/2026-W47"
    assert dedup_key("billing", "stripe_failed", "2026-W47", False) == "billing/stripe_failed"


def test_alert_options_are_strict() -> None:
    with pytest.raises(ValidationError, match="trigger_aftr"):
        CheckOptions(type="sql", alert={"trigger_aftr": 2})
    with pytest.raises(ValidationError):
        CheckOptions(type="sql", alert={"resolve_after": 0})


def test_silence_window() -> None:
    s = Silence(check="x", start=T0, end=T0 + timedelta(hours=1), reason="deploy")
    assert s.covers("x", T0) and not s.covers("x", T0 + timedelta(hours=1))
    assert not s.covers("y", T0)
    assert Silence(check="*", start=T0, end=T0 + timedelta(hours=1), reason="r").covers("y", T0)
    with pytest.raises(ValidationError, match="UTC offset"):
        Silence(check="x", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2), reason="r")
    with pytest.raises(ValidationError, match="after start"):
        Silence(check="x", start=T0, end=T0, reason="r")


def test_held_runs_change_no_notification_state_and_do_not_roll_over() -> None:
    d = Driver()
    assert d.feed(CRIT, deliverable=False) == []
    assert d.track.main.open and d.track.main.notified is None
    assert d.feed(CRIT) == [("trigger", "open", KEY, "critical")]
    new = "billing/x/2026-W48"
    assert d.feed(OK, key=new, deliverable=False) == []
    assert d.track.main.key == KEY  # the old key still awaits its resolve
    assert d.feed(OK, key=new) == [("resolve", "resolve", KEY, "critical")]
