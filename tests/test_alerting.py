"""The alert engine and dispatcher end to end on a real state store (SQLite
file and PostgreSQL), delivering through the real PagerDuty and Slack
notifiers to their local peers: fresh objects for every run, as separate
processes would build them, sharing only the database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from billing_monitor.alerting import outbox
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import alerts
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

__all__ = ["pd", "slack", "state_url", "store"]  # fixtures

KEY = "billing/unbilled_orders/2026-W47"
OPEN = ("trigger", "open", KEY, "critical")
RESOLVE = ("resolve", "resolve", KEY, None)


def run(url: str, value: float | None, clock: Clock, pd: PagerDuty,
        chat: Slack | None = None, **alert: object) -> None:
    """One `billing-monitor check` invocation: new engine objects, emit, drain."""
    engine = open_state(url)
    opts = options(**alert)
    notifiers = [pd, *([chat] if chat else [])]
    make_engine(engine, {"unbilled_orders": opts}, [n.name for n in notifiers]).emit(
        result("unbilled_orders", value, clock(), opts))
    make_dispatcher(engine, notifiers, clock).dispatch()
    engine.dispose()


def test_a_failing_check_pages_exactly_once_across_many_runs(state_url: str,
                                                              pd: PagerDuty) -> None:
    clock = Clock()
    for _ in range(12):
        run(state_url, 25, clock, pd)
        clock.advance(minutes=5)
    assert pd.seen() == [OPEN]
    (event,) = pd.events()
    p = event["payload"]
    assert p["summary"] == ("CRITICAL: billing unbilled_orders (2026-W47): "
                            "unbilled_orders=25 (CRIT > 10)")
    assert event["links"] == [{"href": "https://runbooks.example.com/billing/unbilled",
                               "text": "Runbook"}]
    assert p["custom_details"]["measurements"][0]["samples"] == ["order-1", "order-2"]
    assert (p["component"], p["group"], p["source"]) == (
        "unbilled_orders", "billing", "monitor-test-host")
    assert [a.status for a in pd.peer.incidents_for(KEY)] == ["triggered"]


def test_recovery_resolves_the_same_key(state_url: str, pd: PagerDuty) -> None:
    clock = Clock()
    for value in (25, 25, 0, 0, 25):
        run(state_url, value, clock, pd)
        clock.advance(minutes=5)
    assert pd.seen() == [OPEN, RESOLVE, OPEN]
    assert [a.status for a in pd.peer.incidents_for(KEY)] == ["resolved", "triggered"]


def test_escalation_and_back_update_the_same_incident(state_url: str, pd: PagerDuty) -> None:
    clock = Clock()
    for value in (6, 6, 25, 25, 7, 0):
        run(state_url, value, clock, pd)
        clock.advance(minutes=5)
    assert pd.seen() == [
        ("trigger", "open", KEY, "warning"),
        ("trigger", "escalate", KEY, "critical"),
        ("trigger", "deescalate", KEY, "warning"),
        RESOLVE,
    ]
    assert len(pd.peer.incidents_for(KEY)) == 1  # PagerDuty updated one alert


def test_one_outbox_row_per_channel_and_one_channel_failing_does_not_block_the_other(
    state_url: str, pd: PagerDuty, slack: Slack,
) -> None:
    clock = Clock()
    slack.peer.set_fault("error")
    run(state_url, 25, clock, pd, slack)
    run(state_url, 0, clock.advance(minutes=5) and clock, pd, slack)
    assert pd.seen() == [OPEN, RESOLVE]
    # The trigger was tried at each run (500 both times); its resolve waits behind it.
    assert slack.peer.messages == [] and len(slack.peer.requests) == 2
    slack.peer.set_fault("ok")
    clock.advance(hours=2)  # past every backoff
    run(state_url, 0, clock, pd, slack)
    assert [t.split(": ")[0] for t in slack.titles()] == ["🔴 ALERT [critical]", "✅ RESOLVED"]
    assert len(pd.events()) == 2


def test_notifier_down_for_a_while_then_back_delivers_trigger_and_resolve_once_in_order(
    state_url: str, pd: PagerDuty,
) -> None:
    clock = Clock()
    pd.peer.set_fault("refused")
    for value in (25, 25, 25, 0):  # opens, stays open, resolves: all while PagerDuty is down
        run(state_url, value, clock, pd)
        clock.advance(minutes=3)
    assert pd.events() == []
    pd.peer.set_fault("ok")
    for _ in range(10):  # dispatcher passes every minute until all is out
        clock.advance(minutes=1)
        engine = open_state(state_url)
        make_dispatcher(engine, [pd], clock).dispatch()
        engine.dispose()
    assert pd.seen() == [OPEN, RESOLVE]
    assert pd.peer.open_alerts() == []
    engine = open_state(state_url)
    assert outbox.stats(engine, clock()).depth == 0
    engine.dispose()


def test_process_killed_between_state_change_and_delivery(state_url: str,
                                                          pd: PagerDuty) -> None:
    clock = Clock()
    engine = open_state(state_url)
    opts = options()
    make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock(), opts))
    engine.dispose()  # "killed": state and outbox committed, nothing dispatched
    assert pd.peer.requests == []
    engine = open_state(state_url)  # restart: new objects, same database
    assert outbox.stats(engine, clock()).depth == 1
    make_dispatcher(engine, [pd], clock).dispatch()
    assert pd.seen() == [OPEN]
    make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock.advance(minutes=5), opts))
    make_dispatcher(engine, [pd], clock).dispatch()
    assert len(pd.events()) == 1  # the rerun after restart does not page again
    engine.dispose()


def test_a_delivery_cut_by_a_crash_is_retried_at_once_here_and_after_its_lease_elsewhere(
    state_url: str, pd: PagerDuty,
) -> None:
    """A claim whose holder died on this host is due at once (a restart
    retries within seconds, not after the lease); one held on another host,
    which may still be delivering, waits for its lease."""
    from billing_monitor.alerting.holder import Holder
    from billing_monitor.alerting.tables import outbox as outbox_table

    clock = Clock()
    engine = open_state(state_url)
    opts = options()
    make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock(), opts))
    me = Holder.this_process()
    elsewhere = f"other-host/{me.boot}/{me.pid}/{me.started}"
    dead_here = f"{me.host}/{me.boot}/{me.pid}/not-{me.started}"  # this pid, another process
    with engine.begin() as conn:  # the crashed attempt on another host
        conn.execute(outbox_table.update().values(
            attempts=1, claimed_by=elsewhere, next_attempt_at=clock() + timedelta(seconds=30)))
    make_dispatcher(engine, [pd], clock).dispatch()
    assert pd.peer.requests == []  # still leased to an attempt that may be alive
    with engine.begin() as conn:  # the crashed attempt was this host's
        conn.execute(outbox_table.update().values(claimed_by=dead_here))
    make_dispatcher(engine, [pd], clock).dispatch()
    assert pd.seen() == [OPEN]
    engine.dispose()


def test_state_and_outbox_commit_together_or_not_at_all(
    store: Engine, pd: PagerDuty, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    opts = options()
    real_enqueue = outbox.enqueue

    def broken(*args: object, **kw: object) -> list[int]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(outbox, "enqueue", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(
            result("unbilled_orders", 25, clock(), opts))
    with store.connect() as conn:  # the state change was rolled back with the outbox row
        assert conn.execute(select(alerts)).all() == []
    monkeypatch.setattr(outbox, "enqueue", real_enqueue)
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock.advance(minutes=5), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [OPEN]  # not lost by the failure


def test_concurrent_runs_of_one_check_page_once(state_url: str, pd: PagerDuty) -> None:
    """Two monitor processes (threads with their own engines here) evaluating
    the same check at once, from its very first run on an empty store (schema
    creation included): one incident."""
    clock = Clock()
    opts = options()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        engine = open_state(state_url)
        try:
            start.wait()
            for _ in range(10):
                make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
                    result("unbilled_orders", 25, clock(), opts))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = open_state(state_url)
    make_dispatcher(engine, [pd], clock).dispatch()
    engine.dispose()
    assert pd.seen() == [OPEN]
