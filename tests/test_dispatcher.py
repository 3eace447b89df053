"""The dispatcher's public behaviour over several rows at once, through the
real PagerDuty and Slack notifiers: what one pass reports, what it logs when
a delivery fails, the max_age boundary, a dead row not holding up its key,
and two dispatchers racing for the same rows."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from billing_monitor.alerting.dispatcher import Backoff, Dispatcher
from billing_monitor.alerting.holder import Holder
from billing_monitor.alerts.contract import Notification
from tests.alerting_support import (
    Clock,
    PagerDuty,
    Slack,
    make_dispatcher,
    pd,
    slack,
    state_url,
    store,
)
from tests.test_outbox import note, put, revoked, rows

__all__ = ["pd", "slack", "state_url", "store"]  # fixtures


def test_one_pass_reports_every_row(store: Engine, pd: PagerDuty, slack: Slack) -> None:
    clock = Clock()
    put(store, note(key="billing/a"), note(key="billing/b"), channels=("pagerduty",), at=clock)
    put(store, note(key="billing/c"), note(key="billing/d"), channels=("slack",), at=clock)
    put(store, note(key="billing/e"), note(key="billing/f"), channels=("google_chat",), at=clock)
    report = make_dispatcher(store, [pd, slack], clock).dispatch()
    assert (report.delivered, report.failed, report.dead, report.skipped) == (4, 0, 0, 2)
    pd.peer.set_fault("error")
    put(store, note(key="billing/g"), note(key="billing/h"), channels=("pagerduty",), at=clock)
    gone = revoked(slack.peer)
    put(store, note(key="billing/i"), note(key="billing/j"), channels=("slack",), at=clock)
    report = make_dispatcher(store, [pd, gone], clock).dispatch()
    gone.close()
    assert (report.delivered, report.failed, report.dead, report.skipped) == (0, 2, 2, 2)
    assert report.errors == [
        "pagerduty: SinkError: PagerDuty: HTTP 500: Internal server error",
        "pagerduty: SinkError: PagerDuty: HTTP 500: Internal server error",
        "slack: SinkError: Slack: HTTP 403: invalid_token",
        "slack: SinkError: Slack: HTTP 403: invalid_token",
    ]


def test_a_failed_attempt_is_logged_with_its_retry_time(
    store: Engine, pd: PagerDuty, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    pd.peer.set_fault("error")
    put(store, note(), at=clock)
    make_dispatcher(store, [pd], clock, Backoff(base_seconds=30), rand=0.0).dispatch()
    assert [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "billing_monitor.dispatcher"] == [
        (logging.WARNING, "outbox row 1 (pagerduty, billing/x/2026-W47) attempt 1 failed, "
                          "retry at 2026-11-19T05:30:15+00:00: SinkError: PagerDuty: HTTP 500: "
                          "Internal server error")]


def test_a_dead_trigger_does_not_hold_up_its_resolve(store: Engine, slack_peer: object) -> None:
    """A permanent failure ends the row; the next row of the same key is
    tried in the same pass (and fails permanently too, here)."""
    from tests.peers.http_services import SlackPeer

    assert isinstance(slack_peer, SlackPeer)
    clock, gone = Clock(), revoked(slack_peer)
    put(store, note("trigger"), note("resolve"), channels=("slack",), at=clock)
    report = make_dispatcher(store, [gone], clock).dispatch()
    gone.close()
    assert report.dead == 2 and len(slack_peer.requests) == 2


@pytest.mark.parametrize("present", [True, False], ids=["failing", "no-notifier"])
def test_a_row_is_dead_at_exactly_max_age(store: Engine, pd: PagerDuty, present: bool) -> None:
    clock = Clock()
    pd.peer.set_fault("error")
    put(store, note(), at=clock)
    backoff = Backoff(max_age=timedelta(hours=2))
    clock.advance(hours=2)
    report = make_dispatcher(store, [pd] if present else [], clock, backoff).dispatch()
    assert report.dead == 1
    assert rows(store)[0][2] is True


class RacingClock(Clock):
    """The first time dispatcher A reads the clock after reading the outbox,
    dispatcher B (another process) starts and takes A's first row; B's
    delivery of it is held until `release` is set."""

    def __init__(self, other: Dispatcher | None = None) -> None:
        super().__init__()
        self.other = other
        self.started = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self) -> datetime:
        if self.other is not None and self.thread is None:
            self.thread = threading.Thread(target=self.other.dispatch)
            self.thread.start()
            self.started.wait(10)
        return super().__call__()


class Held:
    """B's PagerDuty: its first delivery waits until the test lets it go."""

    name = "pagerduty"

    def __init__(self, real: PagerDuty, started: threading.Event) -> None:
        self.real, self.started, self.release = real, started, threading.Event()

    def deliver(self, notification: Notification) -> None:
        self.started.set()
        self.release.wait(10)
        self.real.deliver(notification)


def test_a_resolve_never_overtakes_a_trigger_another_dispatcher_is_sending(
    store: Engine, pd: PagerDuty,
) -> None:
    put(store, note("trigger"), note("resolve"))
    racing = RacingClock()
    held = Held(pd, racing.started)
    racing.other = Dispatcher(store, {"pagerduty": held}, clock=Clock())
    make_dispatcher(store, [pd], racing).dispatch()  # A: finds its first row taken
    held.release.set()
    assert racing.thread is not None
    racing.thread.join(30)
    Dispatcher(store, {"pagerduty": pd}, clock=Clock()).dispatch()
    assert [e["event_action"] for e in pd.events()] == ["trigger", "resolve"]


class Buggy:
    """A notifier with a bug: it raises something other than SinkError."""

    name = "pagerduty"

    def deliver(self, notification: Notification) -> None:
        raise RuntimeError("boom")


def test_a_notifier_bug_is_retried_not_raised(store: Engine) -> None:
    clock = Clock()
    put(store, note(), at=clock)
    report = make_dispatcher(store, [Buggy()], clock).dispatch()
    assert (report.failed, report.errors) == (1, ["pagerduty: RuntimeError: boom"])
    assert rows(store) == [(1, 1, False, "RuntimeError: boom")]


def test_closing_alerting_closes_the_notifiers(store: Engine, slack: Slack) -> None:
    from billing_monitor.alerting.runtime import Alerting
    from tests.alerting_support import make_engine

    clock = Clock()
    alerting = Alerting(store, make_engine(store, {}, ["slack"]),
                        make_dispatcher(store, [slack], clock))
    alerting.close()
    with pytest.raises(Exception, match="closed"):  # its HTTP client is gone
        slack.notifier.deliver(note())
    assert slack.peer.requests == []


def _ended_holder() -> Holder:
    """This process as if from an earlier boot: a holder this host sees gone."""
    me = Holder.this_process()
    ended = Holder(me.host, "00000000", me.pid, me.started)
    assert me.orphaned(ended.token)
    return ended


@pytest.mark.parametrize("fault", ["error", "permanent"])
def test_an_attempt_that_failed_releases_its_claim(
    store: Engine, pd: PagerDuty, slack_peer: object, fault: str,
) -> None:
    """A process that failed an attempt and then ended (a `check` run) leaves
    no claim behind: the next process, which sees that holder gone, waits for
    the backoff instead of retrying at once, and a dead row is not shown as
    a delivery in flight."""
    from tests.peers.http_services import SlackPeer

    assert isinstance(slack_peer, SlackPeer)
    ended = _ended_holder()
    clock = Clock()
    if fault == "error":
        pd.peer.set_fault("error")
        put(store, note(), at=clock)
        first = Dispatcher(store, {"pagerduty": pd}, clock=clock, rand=lambda: 0.5,
                           holder=ended).dispatch()
        assert first.failed == 1
        later = make_dispatcher(store, [pd], clock).dispatch()
        assert (later.failed, later.skipped, len(pd.peer.requests)) == (0, 1, 1)
    else:
        gone = revoked(slack_peer)
        put(store, note(), channels=("slack",), at=clock)
        assert Dispatcher(store, {"slack": gone}, clock=clock,
                          holder=ended).dispatch().dead == 1
        gone.close()
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT claimed_by FROM outbox").all() == [(None,)]


def test_idle_waits_for_a_lane_still_delivering(store: Engine, slack: Slack) -> None:
    """A pass cut short (the daemon stopping) leaves Slack's lane delivering;
    `idle` says so within its timeout, and waits for the lane to end."""
    clock = Clock()
    dispatcher = make_dispatcher(store, [slack], clock)
    assert dispatcher.idle(0.0) is True  # nothing running
    slack.peer.set_fault("timeout")  # held until release()
    put(store, note(), channels=("slack",), at=clock)
    report = dispatcher.dispatch(interrupt=lambda: True)
    assert report.in_flight == ["slack"]
    assert dispatcher.idle(0.2) is False
    threading.Timer(0.3, slack.peer.release).start()
    assert dispatcher.idle(30) is True


def test_a_claim_lasts_twice_what_one_delivery_can_take_and_at_least_10_s() -> None:
    """A Slack delivery is bounded by three times its timeout (connect, write,
    read); a claim holds for twice that, never under 10 s; 60 s is the bound
    assumed for a channel this process has no notifier for."""
    from billing_monitor.alerting.dispatcher import lease_for
    from billing_monitor.alerts.slack import SlackNotifier

    url = "http://127.0.0.1:9/services/T0/B0/placeholder"  # never called
    quick, slow = SlackNotifier(url, timeout=1), SlackNotifier(url, timeout=4)
    assert lease_for(quick) == timedelta(seconds=10)  # 2 * 3 s is under the floor
    assert lease_for(slow) == timedelta(seconds=24)  # 2 * 12 s
    assert lease_for(None) == timedelta(seconds=120)
    quick.close()
    slow.close()


def test_dead_rows_of_several_lanes_are_all_counted(
    store: Engine, pd: PagerDuty, slack_peer: object,
) -> None:
    from tests.peers.http_services import SlackPeer

    assert isinstance(slack_peer, SlackPeer)
    clock, gone = Clock(), revoked(slack_peer)
    pd.peer.set_fault("error")
    put(store, note(key="billing/a"), channels=("pagerduty", "slack"), at=clock)
    put(store, note(key="billing/b"), channels=("pagerduty",), at=clock)
    report = Dispatcher(store, {"pagerduty": pd, "slack": gone}, clock=clock,
                        backoff=Backoff(max_attempts=1)).dispatch()
    gone.close()
    assert (report.dead, report.failed, report.delivered) == (3, 0, 0)


def _held_then_ok(slack: Slack) -> None:
    slack.peer.queue("timeout")  # the first request waits for release(); the rest: ok


def _wait_held(slack: Slack) -> None:
    """Until the held delivery has reached the peer (claimed before it was sent)."""
    for _ in range(2000):
        if slack.peer.requests:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the lane never sent its row")


def test_a_claim_in_flight_holds_off_others_for_its_lease(store: Engine, slack: Slack) -> None:
    """Slack's first delivery hangs; another pass of this live process
    leaves the row alone until the claim's lease ends (2 x 30 s: the
    notifier's timeout is 10 s), then takes it."""
    clock = Clock()
    _held_then_ok(slack)
    put(store, note(), channels=("slack",), at=clock)
    first = make_dispatcher(store, [slack], clock)
    assert first.dispatch(interrupt=lambda: True).in_flight == ["slack"]
    _wait_held(slack)
    clock.advance(seconds=59)
    assert make_dispatcher(store, [slack], clock).dispatch().skipped == 1
    clock.advance(seconds=1)
    assert make_dispatcher(store, [slack], clock).dispatch().delivered == 1
    slack.peer.release()
    assert first.idle(30)


def test_a_claim_of_a_process_that_ended_is_taken_at_once(store: Engine, slack: Slack) -> None:
    """A `check` that ended while its delivery hung: the next process on this
    host sees the holder gone and delivers at once, not after the lease."""
    ended = _ended_holder()
    clock = Clock()
    _held_then_ok(slack)
    put(store, note(), channels=("slack",), at=clock)
    first = Dispatcher(store, {"slack": slack}, clock=clock, holder=ended)
    assert first.dispatch(interrupt=lambda: True).in_flight == ["slack"]
    _wait_held(slack)
    assert make_dispatcher(store, [slack], clock).dispatch().delivered == 1
    slack.peer.release()
    assert first.idle(30)


def test_a_pass_says_when_the_next_row_is_due(store: Engine, pd: PagerDuty) -> None:
    """`next_due` (when the daemon passes again): the earliest retry of a
    row this pass tried or found not yet due, across lanes; not a row that
    waits behind another of its key, nor one for a channel this process lacks."""
    clock = Clock()
    pd.peer.set_fault("error")
    put(store, note(key="billing/a"), note(key="billing/a"), at=clock)
    put(store, note(key="billing/c"), channels=("google_chat",), at=clock)
    backoff = Backoff(base_seconds=30)
    report = make_dispatcher(store, [pd], clock, backoff, rand=0.0).dispatch()
    retry = clock() + timedelta(seconds=15)  # 30 s times the jitter's lowest 0.5
    assert (report.failed, report.skipped, report.next_due) == (1, 2, retry)
    clock.advance(seconds=5)
    put(store, note(key="billing/b"), at=clock)  # due now, fails: 15 s from now
    report = make_dispatcher(store, [pd], clock, backoff, rand=0.0).dispatch()
    assert (report.failed, report.next_due) == (1, retry)
    assert make_dispatcher(store, [pd], clock, backoff, rand=0.0).dispatch().next_due == retry


def test_a_lane_whose_store_write_fails_is_reported_and_logged(
    store: Engine, slack: Slack, caplog: pytest.LogCaptureFixture,
) -> None:
    """The store refuses to mark a delivery done (a full disk, here a trigger):
    the lane stops with an ERROR line and the pass reports it; the row stays
    pending for the next pass."""
    if store.dialect.name != "sqlite":
        pytest.skip("the refusing trigger is written in SQLite's dialect")
    with store.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER full_disk BEFORE UPDATE OF delivered_at ON outbox "
            "WHEN NEW.delivered_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk is full'); END")
    clock = Clock()
    put(store, note(), channels=("slack",), at=clock)
    with caplog.at_level(logging.ERROR, "billing_monitor"):
        report = make_dispatcher(store, [slack], clock).dispatch()
    error = "IntegrityError: disk is full"
    assert report.errors == [f"slack: {error}"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"delivery lane slack stopped: {error}"]
    assert len(rows(store)) == 1 and len(slack.peer.messages) == 1


def test_pagerduty_lanes_start_first_in_their_order_then_the_rest_by_name() -> None:
    """A page never waits for a free lane (at most MAX_LANES run at once)."""
    from billing_monitor.alerting.dispatcher import lane_order

    channels = {"slack", "a_email", "pagerduty", "zz_payments_pd", "google_chat"}
    assert lane_order(channels, ("zz_payments_pd", "pagerduty")) == [
        "zz_payments_pd", "pagerduty", "a_email", "google_chat", "slack"]
    assert lane_order(channels) == ["pagerduty", "a_email", "google_chat", "slack",
                                    "zz_payments_pd"]


def test_a_busy_lane_is_left_alone_by_the_next_pass(store: Engine, slack: Slack) -> None:
    """Slack's lane is still on a hanging delivery when the daemon passes
    again: the pass leaves Slack's rows to that lane (one lane per channel),
    even a row of another key that is due."""
    clock = Clock()
    _held_then_ok(slack)
    put(store, note(key="billing/a"), note(key="billing/b"), channels=("slack",), at=clock)
    dispatcher = make_dispatcher(store, [slack], clock)
    assert dispatcher.dispatch(interrupt=lambda: True).in_flight == ["slack"]
    _wait_held(slack)
    report = dispatcher.dispatch()
    assert (report.delivered, report.skipped) == (0, 2)
    assert len(slack.peer.requests) == 1
    slack.peer.release()
    assert dispatcher.idle(30)


def test_busy_lanes_are_skipped_and_counted_and_the_free_ones_still_run(store: Engine) -> None:
    """Three Slack workspaces as three receivers; the first two still hang
    on a delivery when the next pass comes: it counts their rows as skipped
    and delivers the third's."""
    from tests.peers.http_services import SlackPeer

    peers = {name: SlackPeer() for name in ("a_ops", "b_finance", "c_sales")}
    slacks = {name: Slack(peer) for name, peer in peers.items()}
    try:
        clock = Clock()
        for name in ("a_ops", "b_finance"):
            peers[name].queue("timeout")
            put(store, note(key=f"billing/{name}"), channels=(name,), at=clock)
        dispatcher = Dispatcher(store, slacks, clock=clock, first=())
        assert sorted(dispatcher.dispatch(interrupt=lambda: True).in_flight) == [
            "a_ops", "b_finance"]
        for _ in range(3000):
            if all(len(peers[n].requests) == 1 for n in ("a_ops", "b_finance")):
                break
            threading.Event().wait(0.01)
        put(store, note(key="billing/c"), channels=("c_sales",), at=clock)
        report = dispatcher.dispatch()
        assert (report.skipped, report.delivered) == (2, 1)
        assert [len(p.requests) for p in peers.values()] == [1, 1, 1]
        for peer in peers.values():
            peer.release()
        assert dispatcher.idle(30)
    finally:
        for s in slacks.values():
            s.close()
        for peer in peers.values():
            peer.close()
