"""The outbox and its dispatcher: backoff with injected jitter and clock,
per-key ordering, dead-lettering (logged, counted, kept), pruning, stats and
gauges. Deliveries go through the real notifiers to their local peers, whose
fault switches stand for the outages."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from billing_monitor.alerting import outbox
from billing_monitor.alerting.dispatcher import Backoff
from billing_monitor.alerting.tables import outbox as outbox_table
from billing_monitor.alerting.tables import utc
from billing_monitor.alerts.contract import Notification
from billing_monitor.alerts.slack import SlackNotifier
from billing_monitor.alerts.statsd import make_client
from tests.alerting_support import (
    T0,
    TIMEOUT,
    Clock,
    PagerDuty,
    Slack,
    make_dispatcher,
    pd,
    slack,
    state_url,
    store,
)
from tests.peers.http_services import SlackPeer
from tests.peers.statsd import UdpListener

__all__ = ["pd", "slack", "state_url", "store"]  # fixtures

HTTP_500 = "SinkError: PagerDuty: HTTP 500: Internal server error"


def note(action: str = "trigger", key: str = "billing/x/2026-W47") -> Notification:
    return Notification(
        action=action, reason="open" if action == "trigger" else "resolve",  # type: ignore[arg-type]
        dedup_key=key, check="x", severity="critical", summary="x is broken",
        source="host", occurred_at=T0, custom_details={"value": 25.0},
        links=(("https://runbooks.example.com/x", "Runbook"),),
    )


def actions(pd: PagerDuty) -> list[str]:
    """The event_action of every request that reached PagerDuty, failed or not."""
    return [json.loads(r.body)["event_action"] for r in pd.peer.requests]


def revoked(slack_peer: SlackPeer) -> SlackNotifier:
    """A Slack notifier whose webhook was deleted: 403 invalid_token, permanent."""
    return SlackNotifier(slack_peer.webhook_url.replace(slack_peer.token, "revokedtoken0"),
                         timeout=TIMEOUT)


def put(store: Engine, *notes: Notification, channels: tuple[str, ...] = ("pagerduty",),
        at: Clock | None = None) -> None:
    with store.begin() as conn:
        for n in notes:
            outbox.enqueue(conn, n, channels, (at or Clock())())


def rows(store: Engine) -> list[tuple[int, int, bool, str | None]]:
    with store.connect() as conn:
        return [(r.id, r.attempts, r.dead, r.last_error) for r in conn.execute(
            select(outbox_table).order_by(outbox_table.c.id))]


def test_payload_round_trips() -> None:
    n = note()
    assert outbox.from_payload(outbox.to_payload(n)) == n


def test_backoff_doubles_with_jitter_caps_and_honours_retry_after() -> None:
    b = Backoff(base_seconds=30, max_seconds=1800)
    assert b.delay(1, 0.0) == 15 and b.delay(1, 0.999) == pytest.approx(29.985)
    assert b.delay(3, 0.5) == 90  # 30 * 2**2 * 0.75
    assert b.delay(30, 0.5) == 1350  # capped at 1800, times jitter
    assert b.delay(1, 0.0, retry_after=120) == 120  # the peer asked for more
    assert b.delay(1, 0.0, retry_after=86400) == 1800  # but never beyond the cap
    assert Backoff(base_seconds=1).delay(1, 0.0) == 0.5  # no floor of its own


def test_failed_attempt_waits_for_its_backoff(store: Engine, pd: PagerDuty) -> None:
    clock = Clock()
    pd.peer.set_fault("error")
    put(store, note())
    d = make_dispatcher(store, [pd], clock, Backoff(base_seconds=60), rand=0.0)
    assert d.dispatch().failed == 1
    assert rows(store) == [(1, 1, False, HTTP_500)]
    clock.advance(seconds=29)  # next attempt at +30s (60 * 0.5)
    assert d.dispatch().skipped == 1 and actions(pd) == ["trigger"]
    pd.peer.set_fault("ok")
    clock.advance(seconds=1)
    assert d.dispatch().delivered == 1
    assert actions(pd) == ["trigger", "trigger"]
    assert [a.status for a in pd.peer.incidents_for("billing/x/2026-W47")] == ["triggered"]
    assert rows(store) == [(1, 2, False, None)]  # delivered: the old error is cleared
    assert outbox.stats(store, clock()).depth == 0


def test_a_peers_retry_after_is_honoured(store: Engine, pd: PagerDuty) -> None:
    """PagerDuty answers 429 with Retry-After: 7 (the peer's value): the row
    waits that long even though its own backoff would be shorter."""
    clock = Clock()
    pd.peer.queue("ratelimit")
    put(store, note())
    d = make_dispatcher(store, [pd], clock, Backoff(base_seconds=2), rand=0.0)
    assert d.dispatch().failed == 1  # own backoff: 1 s; the peer asked for 7
    clock.advance(seconds=6)
    assert d.dispatch().skipped == 1
    clock.advance(seconds=1)
    assert d.dispatch().delivered == 1 and actions(pd) == ["trigger", "trigger"]


def test_a_resolve_never_overtakes_its_trigger(store: Engine, pd: PagerDuty) -> None:
    clock = Clock()
    pd.peer.queue("error")
    put(store, note("trigger"), note("resolve"), note("trigger", key="billing/y"))
    report = make_dispatcher(store, [pd], clock).dispatch()
    assert actions(pd) == ["trigger", "trigger"]  # x's trigger failed, y's went; x's resolve waits
    assert (report.failed, report.delivered, report.skipped) == (1, 1, 1)
    clock.advance(hours=1)
    make_dispatcher(store, [pd], clock).dispatch()
    assert [(e["event_action"], e["dedup_key"]) for e in pd.events()] == [
        ("trigger", "billing/y"), ("trigger", "billing/x/2026-W47"),
        ("resolve", "billing/x/2026-W47")]
    assert [a.status for a in pd.peer.incidents_for("billing/x/2026-W47")] == ["resolved"]


def test_dead_after_max_attempts_is_logged_counted_and_kept(
    store: Engine, pd: PagerDuty, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    pd.peer.set_fault("error")
    put(store, note())
    backoff = Backoff(base_seconds=10, max_attempts=3)
    dead = 0
    for _ in range(10):
        dead += make_dispatcher(store, [pd], clock, backoff).dispatch().dead
        clock.advance(hours=1)
    assert len(pd.peer.requests) == 3 and dead == 1
    assert rows(store) == [(1, 3, True, HTTP_500)]
    s = outbox.stats(store, clock())
    assert (s.depth, s.dead) == (0, 1)
    assert "outbox row 1 (pagerduty, billing/x/2026-W47) is dead after 3 attempts" in caplog.text
    assert caplog.records[-1].levelno == logging.ERROR


def test_dead_when_too_old_or_permanent(store: Engine, pd: PagerDuty, slack_peer: SlackPeer,
                                        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    put(store, note(), at=clock)
    put(store, note(key="billing/y"), channels=("slack",), at=clock)
    pd.peer.set_fault("error")
    gone = revoked(slack_peer)
    backoff = Backoff(max_age=timedelta(hours=2))
    report = make_dispatcher(store, [pd, gone], clock, backoff).dispatch()
    assert (report.failed, report.dead) == (1, 1)  # slack: permanent, dead at once
    clock.advance(hours=3)
    assert make_dispatcher(store, [pd, gone], clock, backoff).dispatch().dead == 1
    assert "outbox row 2 (slack, billing/y) is dead after permanent error: SinkError: " \
           "Slack: HTTP 403: invalid_token" in [r.getMessage() for r in caplog.records]
    assert "(pagerduty, billing/x/2026-W47) is dead after too old" in caplog.text
    assert len(slack_peer.requests) == 1  # a permanent error is never retried
    assert outbox.stats(store, clock()).dead == 2
    gone.close()


def test_a_row_for_a_channel_this_process_lacks_waits_for_one_that_has_it(
    store: Engine, slack: Slack,
) -> None:
    clock = Clock()
    put(store, note(), channels=("slack",), at=clock)
    backoff = Backoff(max_age=timedelta(hours=2))
    assert make_dispatcher(store, [], clock, backoff).dispatch().skipped == 1  # not dead
    assert rows(store) == [(1, 0, False, None)]
    assert make_dispatcher(store, [slack], clock, backoff).dispatch().delivered == 1
    assert len(slack.peer.messages) == 1
    put(store, note(key="billing/y"), channels=("slack",), at=clock)
    clock.advance(hours=3)  # nobody could deliver it for longer than max_age
    assert make_dispatcher(store, [], clock, backoff).dispatch().dead == 1
    assert rows(store)[1][2:] == (True, "SinkError: no notifier named 'slack' is configured")


def test_two_dispatchers_do_not_both_claim_a_row(store: Engine) -> None:
    put(store, note())
    with store.connect() as conn:
        row = outbox.pending(conn)[0]
    with store.begin() as conn:
        assert outbox.claim(conn, row, T0 + timedelta(minutes=2), "host-a/b/1/1")
    with store.begin() as conn:
        assert not outbox.claim(conn, row, T0 + timedelta(minutes=2), "host-b/b/2/2")  # stale


def test_stats_depth_and_oldest_age(store: Engine) -> None:
    clock = Clock()
    assert outbox.stats(store, clock()) == outbox.OutboxStats(0, 0.0, 0)
    put(store, note(), at=clock)
    clock.advance(minutes=10)
    put(store, note(key="billing/y"), channels=("pagerduty", "slack"), at=clock)
    clock.advance(seconds=30)
    assert outbox.stats(store, clock()) == outbox.OutboxStats(3, 630.0, 0, {
        "pagerduty": outbox.Backlog(2, 630.0, 0), "slack": outbox.Backlog(1, 30.0, 0)})
    with store.connect() as conn:
        first = conn.execute(select(outbox_table.c.created_at).order_by(outbox_table.c.id))
        assert utc(first.first()[0]) == T0  # type: ignore[index]


def test_gauges_reach_dogstatsd(statsd: UdpListener) -> None:
    client = make_client("127.0.0.1", statsd.port, None)
    outbox.emit_gauges(client, "billing.", ["env:test"], outbox.OutboxStats(3, 630.2504, 1))
    client.flush()
    assert sorted(statsd.receive(3)) == [
        "billing.outbox.dead:1|g|#env:test",
        "billing.outbox.depth:3|g|#env:test",
        "billing.outbox.oldest_age_seconds:630.25|g|#env:test",
    ]


def test_a_backlog_per_receiver_reaches_dogstatsd_every_configured_one_included(
    store: Engine, statsd: UdpListener,
) -> None:
    """Slack down for ten minutes while PagerDuty delivers: the gauges say
    which receiver is behind, and one with nothing waiting says 0."""
    clock = Clock()
    put(store, note(key="billing/x"), channels=("slack",), at=clock)
    clock.advance(minutes=10)
    put(store, note(key="billing/y"), channels=("slack",), at=clock)
    with store.begin() as conn:
        row = outbox.pending(conn)[0]
        outbox.dead(conn, row.id, "Slack: 410 channel_is_archived")
    clock.advance(seconds=30)
    client = make_client("127.0.0.1", statsd.port, None)
    outbox.emit_gauges(client, "billing.", ["env:test"], outbox.stats(store, clock()),
                       receivers=("pagerduty", "slack"))
    client.flush()
    per_receiver = sorted(line for line in statsd.receive(9) if ".receiver." in line)
    assert per_receiver == [
        "billing.outbox.receiver.dead:0|g|#env:test,receiver:pagerduty",
        "billing.outbox.receiver.dead:1|g|#env:test,receiver:slack",
        "billing.outbox.receiver.depth:0|g|#env:test,receiver:pagerduty",
        "billing.outbox.receiver.depth:1|g|#env:test,receiver:slack",
        "billing.outbox.receiver.oldest_age_seconds:0.0|g|#env:test,receiver:pagerduty",
        "billing.outbox.receiver.oldest_age_seconds:30.0|g|#env:test,receiver:slack",
    ]


def test_delivered_and_dead_rows_are_pruned_after_keep_pending_never(
    store: Engine, pd: PagerDuty, slack_peer: SlackPeer,
) -> None:
    clock = Clock()
    put(store, note(key="billing/dead"), channels=("slack",), at=clock)
    put(store, note(key="billing/pending"), note(key="billing/ok"), at=clock)
    pd.peer.queue("error")
    gone = revoked(slack_peer)
    backoff = Backoff(keep=timedelta(days=7), max_age=timedelta(days=30))
    report = make_dispatcher(store, [pd, gone], clock, backoff).dispatch()
    assert (report.dead, report.failed, report.delivered, report.pruned) == (1, 1, 1, 0)
    clock.advance(days=7)  # kept for exactly keep_days: not yet pruned ...
    pd.peer.set_fault("error")  # (the pending one keeps failing)
    assert make_dispatcher(store, [pd, gone], clock, backoff).dispatch().pruned == 0
    clock.advance(seconds=1)  # ... and pruned once they are older than that
    assert make_dispatcher(store, [pd, gone], clock, backoff).dispatch().pruned == 2
    assert [r[0] for r in rows(store)] == [2]  # only the pending row is left
    assert outbox.stats(store, clock()).dead == 0
    gone.close()


def test_stats_of_a_receiver_with_only_dead_rows_and_a_clock_behind_the_writer(
    store: Engine,
) -> None:
    """A receiver whose rows all died waits on nothing (age 0), and a row
    written by a host whose clock is ahead is 0 seconds old, never negative."""
    clock = Clock()
    put(store, note(key="billing/x"), channels=("slack",), at=clock)
    with store.begin() as conn:
        outbox.dead(conn, outbox.pending(conn)[0].id, "Slack: 410 channel_is_archived")
    put(store, note(key="billing/y"), at=Clock(T0 + timedelta(minutes=1)))
    assert outbox.stats(store, clock()) == outbox.OutboxStats(1, 0.0, 1, {
        "pagerduty": outbox.Backlog(1, 0.0, 0), "slack": outbox.Backlog(0, 0.0, 1)})


def test_per_receiver_ages_reach_dogstatsd_in_milliseconds(statsd: UdpListener) -> None:
    client = make_client("127.0.0.1", statsd.port, None)
    outbox.emit_gauges(client, "billing.", ["env:test"], outbox.OutboxStats(
        1, 630.2504, 0, {"slack": outbox.Backlog(1, 630.2504, 0)}))
    client.flush()
    assert sorted(line for line in statsd.receive(6) if "age" in line) == [
        "billing.outbox.oldest_age_seconds:630.25|g|#env:test",
        "billing.outbox.receiver.oldest_age_seconds:630.25|g|#env:test,receiver:slack",
    ]
