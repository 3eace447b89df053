"""README promises of the alerting section, each through the state store and
the real PagerDuty notifier on its peer: renotify, recovery over several
measurements, a `silence --minutes` that ends, no resolve for what was never
sent, rollover where the week ends in another time zone, `drain_seconds`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from billing_monitor.alerting import outbox, silences
from billing_monitor.alerting.runtime import Alerting
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement
from billing_monitor.checks.period import current_period
from tests.alerting_support import (
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
from tests.test_alerting import KEY, OPEN, RESOLVE

__all__ = ["pd", "slack", "state_url", "store"]  # fixtures

RENOTIFY = ("trigger", "renotify", KEY, "critical")


def cycle(store: Engine, pd: PagerDuty, clock: Clock, value: float,
          opts: CheckOptions) -> None:
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", value, clock(), opts))
    make_dispatcher(store, [pd], clock).dispatch()


def test_renotify_is_sent_every_interval_across_process_restarts(
    store: Engine, pd: PagerDuty,
) -> None:
    """The last notification time is kept in the state store, and the interval
    is inclusive: runs every 5 minutes with renotify_minutes = 10 re-send at
    +10 and +20 exactly."""
    clock, opts = Clock(), options(renotify_minutes=10)
    for _ in range(5):  # +0 open, +5, +10 renotify, +15, +20 renotify
        cycle(store, pd, clock, 25, opts)
        clock.advance(minutes=5)
    assert pd.seen() == [OPEN, RENOTIFY, RENOTIFY]
    assert [e["payload"]["timestamp"][:16] for e in pd.events()] == [
        "2026-11-19T05:30", "2026-11-19T05:40", "2026-11-19T05:50"]
    assert len(pd.peer.incidents_for(KEY)) == 1  # a renotify updates the open alert


def test_recovery_needs_every_measurement_back_past_the_level(
    store: Engine, pd: PagerDuty,
) -> None:
    """A check with two measurements (e.g. by region): the incident resolves
    only when both are back past `recovery`, not when one of them is."""
    clock = Clock()
    opts = options(critical=10, warning=None, recovery=4)

    def both(eu: float, us: float) -> CheckResult:
        evals = []
        for region, value in (("eu", eu), ("us", us)):
            status, crossed = opts.thresholds.evaluate(value)
            evals.append(Evaluation(Measurement("unbilled_orders", value, (f"region:{region}",)),
                                    status, crossed))
        status = max(e.status for e in evals)
        return CheckResult("unbilled_orders", status, tuple(evals), 0.1, clock(),
                           current_period("iso_week", "UTC", clock()))

    for eu, us in ((25, 0), (2, 7), (7, 2), (3, 2)):  # OK from the 2nd run, recovered at the 4th
        make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(both(eu, us))
        make_dispatcher(store, [pd], clock).dispatch()
        clock.advance(minutes=5)
    assert pd.seen() == [OPEN, RESOLVE]
    assert pd.events()[1]["dedup_key"] == KEY


def test_a_silence_made_with_minutes_ends_on_time(store: Engine, pd: PagerDuty) -> None:
    """`billing-monitor silence unbilled_orders --minutes 30`: runs inside the
    window are muted; the first run at or after its end notifies."""
    clock, opts = Clock(), options()
    silences.add(store, "unbilled_orders", clock(), 30, "billing migration", "alice")
    for _ in range(3):  # +0, +10, +20: muted
        cycle(store, pd, clock, 25, opts)
        clock.advance(minutes=10)
    assert pd.peer.requests == []
    cycle(store, pd, clock, 25, opts)  # +30: the silence has ended
    assert pd.seen() == [OPEN]
    assert silences.active(store, clock()) == []


def test_a_silence_for_every_check_mutes_this_one_too(store: Engine, pd: PagerDuty) -> None:
    clock, opts = Clock(), options()
    silences.add(store, "*", clock(), 60, "maintenance", "bob")
    cycle(store, pd, clock, 25, opts)
    assert pd.peer.requests == []
    assert silences.end(store, 1, clock.advance(minutes=1))
    cycle(store, pd, clock, 25, opts)
    assert pd.seen() == [OPEN]


def test_a_silence_mutes_only_its_check_and_only_from_when_it_was_made(
    store: Engine, pd: PagerDuty,
) -> None:
    clock, opts = Clock(), options()
    silences.add(store, "failed_charges", clock(), 60, "their migration", "dave")
    cycle(store, pd, clock, 25, opts)  # another check's silence: unbilled_orders pages
    assert pd.seen() == [OPEN]
    silences.add(store, "*", clock() + timedelta(minutes=5), 60, "from 05:35", "dave")
    make_engine(store, {"refunds": opts}, ["pagerduty"]).emit(  # a run that started at 05:30
        result("refunds", 25, clock(), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen()[1:] == [("trigger", "open", "billing/refunds/2026-W47", "critical")]


def test_an_incident_never_notified_is_never_resolved(store: Engine, pd: PagerDuty) -> None:
    """Opened and closed inside a silence: PagerDuty never heard of it, so it
    gets no resolve; nor when the check is then removed from the config."""
    clock, opts = Clock(), options()
    silences.add(store, "unbilled_orders", clock(), 60, "deploy", "carol")
    cycle(store, pd, clock, 25, opts)
    cycle(store, pd, clock.advance(minutes=5) and clock, 0, opts)
    cycle(store, pd, clock.advance(minutes=5) and clock, 25, opts)  # open again, muted
    engine = make_engine(store, {"failed_charges": options()}, ["pagerduty"])
    assert engine.retire_removed(clock.advance(minutes=5)) == [KEY]  # closed in the store ...
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.peer.requests == []  # ... and nothing sent
    assert outbox.stats(store, clock()).depth == 0


def test_rollover_happens_at_midnight_in_the_periods_time_zone(
    store: Engine, pd: PagerDuty,
) -> None:
    """[period] timezone = "Europe/Berlin": Sunday 23:30 UTC is already Monday
    there, so the week's incident is resolved and the new week's key opens."""
    clock, opts = Clock(datetime(2026, 11, 22, 22, 30, tzinfo=UTC)), options()

    def berlin(value: float) -> CheckResult:
        status, crossed = opts.thresholds.evaluate(value)
        m = Measurement("unbilled_orders", value)
        period = current_period("iso_week", "Europe/Berlin", clock())
        return CheckResult("unbilled_orders", status, (Evaluation(m, status, crossed),), 0.1,
                           clock(), period)

    for _ in range(2):  # 22:30 UTC = 23:30 Sunday in Berlin; then 23:30 UTC = Monday 00:30
        make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(berlin(25))
        make_dispatcher(store, [pd], clock).dispatch()
        last = clock()
        clock.advance(hours=1)
    assert pd.seen() == [OPEN, RESOLVE,
                         ("trigger", "open", "billing/unbilled_orders/2026-W48", "critical")]
    assert current_period("iso_week", "UTC", last).label == "2026-W47"  # not UTC's midnight


class Slow:
    """PagerDuty, where each delivery takes 10 s of a fake monotonic clock."""

    name = "pagerduty"

    def __init__(self, real: PagerDuty) -> None:
        self.real, self.t = real, 0.0

    def deliver(self, notification: Notification) -> None:
        self.real.deliver(notification)
        self.t += 10  # the time passes while it delivers

    def monotonic(self) -> float:
        return self.t


def test_drain_delivers_for_at_most_drain_seconds_and_leaves_the_rest(
    store: Engine, pd: PagerDuty,
) -> None:
    """`check` delivers for up to [outbox] drain_seconds after its run; what is
    left stays queued, in order, for the next run."""
    clock, slow = Clock(), Slow(pd)
    for name in ("a", "b", "c", "d"):
        opts = options()
        make_engine(store, {name: opts}, ["pagerduty"]).emit(result(name, 25, clock(), opts))
    alerting = Alerting(store, make_engine(store, {}, ["pagerduty"]),
                        make_dispatcher(store, [slow], clock))
    alerting.drain(25, monotonic=slow.monotonic)  # deliveries start at 0, 10, 20; not at 30
    # The pass returns at its deadline (30); the lane may still be marking the
    # third row delivered: wait for it, as the daemon's next pass would.
    assert alerting.dispatcher.idle(30)
    assert [e["dedup_key"] for e in pd.events()] == [
        "billing/a/2026-W47", "billing/b/2026-W47", "billing/c/2026-W47"]
    assert outbox.stats(store, clock()).depth == 1
    alerting.drain(0, monotonic=slow.monotonic)  # 0: nothing now
    assert alerting.dispatcher.idle(30)
    assert len(pd.events()) == 3 and outbox.stats(store, clock()).depth == 1
    alerting.drain(20, monotonic=slow.monotonic)  # the next run sends the rest
    assert alerting.dispatcher.idle(30)
    assert pd.events()[-1]["dedup_key"] == "billing/d/2026-W47"
    assert outbox.stats(store, clock()).depth == 0


def test_a_check_put_back_after_its_removal_starts_afresh(store: Engine, pd: PagerDuty) -> None:
    """README: a check removed from the configuration is resolved and its
    state forgotten, so one put back starts afresh: no second resolve, its
    trigger_after and degraded_after streaks counted from zero again."""
    clock = Clock()
    opts = options(trigger_after=3, degraded_after=2)
    for _ in range(3):
        cycle(store, pd, clock, 25, opts)
        clock.advance(minutes=5)
    cycle(store, pd, clock, None, opts)  # could not run once: 1 of degraded_after 2
    assert pd.seen() == [OPEN]
    other = make_engine(store, {"failed_charges": options()}, ["pagerduty"])
    assert other.retire_removed(clock.advance(minutes=5)) == [KEY]
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE]
    # Put back, still failing: two runs are not yet trigger_after = 3, and one
    # run that could not run is not yet degraded_after = 2.
    for value in (None, 25, 25):
        cycle(store, pd, clock.advance(minutes=5) and clock, value, opts)
    assert pd.seen() == [OPEN, RESOLVE]
    cycle(store, pd, clock.advance(minutes=5) and clock, 25, opts)
    assert pd.seen() == [OPEN, RESOLVE, OPEN]


def test_a_check_put_back_pages_only_where_it_is_routed_now(
    store: Engine, pd: PagerDuty, slack: Slack,
) -> None:
    """The channels an incident was sent to are forgotten with it: put back
    where only PagerDuty is configured, its new trigger reaches no Slack."""
    clock, opts = Clock(), options()
    both = make_engine(store, {"unbilled_orders": opts}, ["pagerduty", "slack"])
    both.emit(result("unbilled_orders", 25, clock(), opts))
    other = make_engine(store, {"failed_charges": options()}, ["pagerduty", "slack"])
    assert other.retire_removed(clock.advance(minutes=5)) == [KEY]
    make_dispatcher(store, [pd, slack], clock).dispatch()
    assert len(slack.peer.messages) == 2  # the trigger and the resolve
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock.advance(minutes=5), opts))
    make_dispatcher(store, [pd, slack], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE, OPEN]
    assert len(slack.peer.messages) == 2


def test_only_the_owner_retires_a_removed_check_and_a_row_of_no_owner_is_everyones(
    store: Engine, pd: PagerDuty,
) -> None:
    """README ([state] owner): instances sharing a store resolve only their own
    checks' incidents when those leave their configuration; a row written
    before owners were kept (NULL) is resolved by whichever instance sees the
    check gone."""
    clock, opts = Clock(), options()
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"], owner="host-a").emit(
        result("unbilled_orders", 25, clock(), opts))
    other = make_engine(store, {"failed_charges": opts}, ["pagerduty"], owner="host-b")
    assert other.retire_removed(clock.advance(minutes=5)) == []
    with store.begin() as conn:
        conn.exec_driver_sql("UPDATE alerts SET owner = NULL")
    assert other.retire_removed(clock.advance(minutes=5)) == [KEY]
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE]


def test_a_removed_checks_resolve_goes_where_its_trigger_went(
    store: Engine, pd: PagerDuty, slack: Slack,
) -> None:
    """Sent to PagerDuty only; retired by a process that also has Slack: the
    resolve goes to PagerDuty, and Slack, which never heard of it, hears nothing."""
    clock, opts = Clock(), options()
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock(), opts))
    other = make_engine(store, {"failed_charges": opts}, ["pagerduty", "slack"])
    assert other.retire_removed(clock.advance(minutes=5)) == [KEY]
    make_dispatcher(store, [pd, slack], clock).dispatch()
    assert pd.seen() == [OPEN, RESOLVE]
    assert slack.peer.messages == []
