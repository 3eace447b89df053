"""The alert engine and dispatcher end to end on a real state store (SQLite
file and PostgreSQL): fresh objects for every run, as separate processes
would build them, sharing only the database."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from monitor import outbox
from monitor.state import alerts, open_state
from monitor.types import SinkError
from tests.alerting_support import (
    T0,
    Clock,
    FakeNotifier,
    make_dispatcher,
    make_engine,
    options,
    result,
    state_url,
    store,
)

__all__ = ["state_url", "store"]  # fixtures

KEY = "billing/unbilled_orders/2026-W47"


def run(url: str, value: float | None, clock: Clock, pd: FakeNotifier,
        chat: FakeNotifier | None = None, **alert: object) -> None:
    """One `billing-monitor check` invocation: new engine objects, emit, drain."""
    engine = open_state(url)
    opts = options(**alert)
    notifiers = [pd, *([chat] if chat else [])]
    make_engine(engine, {"unbilled_orders": opts}, [n.name for n in notifiers]).emit(
        result("unbilled_orders", value, clock(), opts))
    make_dispatcher(engine, notifiers, clock).dispatch()
    engine.dispose()


def test_a_failing_check_pages_exactly_once_across_many_runs(state_url: str) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    for _ in range(12):
        run(state_url, 25, clock, pd)
        clock.advance(minutes=5)
    assert pd.seen() == [("trigger", "open", KEY, "critical")]
    n = pd.delivered[0]
    assert n.summary.startswith("CRITICAL: billing unbilled_orders (2026-W47): unbilled_orders=25")
    assert n.links == (("https://runbooks.example.com/billing/unbilled", "Runbook"),)
    assert n.custom_details["measurements"][0]["samples"] == ["order-1", "order-2"]
    assert (n.component, n.group, n.source) == ("unbilled_orders", "billing", "monitor-test-host")


def test_recovery_resolves_the_same_key(state_url: str) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    for value in (25, 25, 0, 0, 25):
        run(state_url, value, clock, pd)
        clock.advance(minutes=5)
    assert pd.seen() == [
        ("trigger", "open", KEY, "critical"),
        ("resolve", "resolve", KEY, "critical"),
        ("trigger", "open", KEY, "critical"),
    ]


def test_escalation_and_back_update_the_same_incident(state_url: str) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    for value in (6, 6, 25, 25, 7, 0):
        run(state_url, value, clock, pd)
        clock.advance(minutes=5)
    assert pd.seen() == [
        ("trigger", "open", KEY, "warning"),
        ("trigger", "escalate", KEY, "critical"),
        ("trigger", "deescalate", KEY, "warning"),
        ("resolve", "resolve", KEY, "warning"),
    ]


def test_one_outbox_row_per_channel_and_one_channel_failing_does_not_block_the_other(
    state_url: str,
) -> None:
    clock = Clock()
    pd, chat = FakeNotifier("pagerduty"), FakeNotifier("slack", down=SinkError("HTTP 500"))
    run(state_url, 25, clock, pd, chat)
    run(state_url, 0, clock.advance(minutes=5) and clock, pd, chat)
    assert pd.seen() == [("trigger", "open", KEY, "critical"),
                         ("resolve", "resolve", KEY, "critical")]
    assert chat.delivered == []
    chat.down = None
    clock.advance(hours=2)  # past every backoff
    run(state_url, 0, clock, pd, chat)
    assert [s[0] for s in chat.seen()] == ["trigger", "resolve"]
    assert len(pd.delivered) == 2


def test_notifier_down_for_a_while_then_back_delivers_trigger_and_resolve_once_in_order(
    state_url: str,
) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    pd.down = SinkError("connection refused")
    for value in (25, 25, 25, 0):  # opens, stays open, resolves: all while PagerDuty is down
        run(state_url, value, clock, pd)
        clock.advance(minutes=3)
    assert pd.delivered == []
    pd.down = None
    for _ in range(10):  # dispatcher passes every minute until all is out
        clock.advance(minutes=1)
        engine = open_state(state_url)
        make_dispatcher(engine, [pd], clock).dispatch()
        engine.dispose()
    assert pd.seen() == [("trigger", "open", KEY, "critical"),
                         ("resolve", "resolve", KEY, "critical")]
    engine = open_state(state_url)
    assert outbox.stats(engine, clock()).depth == 0
    engine.dispose()


def test_process_killed_between_state_change_and_delivery(state_url: str) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    engine = open_state(state_url)
    opts = options()
    make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock(), opts))
    engine.dispose()  # "killed": state and outbox committed, nothing dispatched
    assert pd.delivered == []
    engine = open_state(state_url)  # restart: new objects, same database
    assert outbox.stats(engine, clock()).depth == 1
    make_dispatcher(engine, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", KEY, "critical")]
    make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock.advance(minutes=5), opts))
    make_dispatcher(engine, [pd], clock).dispatch()
    assert len(pd.delivered) == 1  # the rerun after restart does not page again
    engine.dispose()


def test_a_delivery_cut_by_a_crash_is_retried_at_once_here_and_after_its_lease_elsewhere(
    state_url: str,
) -> None:
    """A claim whose holder died on this host is due at once (a restart
    retries within seconds, not after the lease); one held on another host,
    which may still be delivering, waits for its lease."""
    from monitor.holder import Holder
    from monitor.state import outbox as outbox_table

    clock, pd = Clock(), FakeNotifier("pagerduty")
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
    assert pd.delivered == []  # still leased to an attempt that may be alive
    with engine.begin() as conn:  # the crashed attempt was this host's
        conn.execute(outbox_table.update().values(claimed_by=dead_here))
    make_dispatcher(engine, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", KEY, "critical")]
    engine.dispose()


def test_silenced_check_updates_state_but_notifies_when_the_silence_ends(
    store: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    from monitor.policy import Silence

    clock, pd = Clock(), FakeNotifier("pagerduty")
    opts = options()
    window = Silence(check="unbilled_orders", start=T0, end=T0.replace(hour=7),
                     reason="billing migration")
    for _ in range(3):
        caplog.set_level(logging.INFO, "billing_monitor.alerting")
        make_engine(store, {"unbilled_orders": opts}, ["pagerduty"], silences=[window]).emit(
            result("unbilled_orders", 25, clock(), opts))
        make_dispatcher(store, [pd], clock).dispatch()
        clock.advance(minutes=30)
    assert pd.delivered == []
    assert "silenced" in caplog.text
    with store.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.dedup_key == KEY)).one()
    assert row.is_open and row.notified_severity is None
    clock.advance(minutes=30)  # 07:00: the window is over, billing is still broken
    make_engine(store, {"unbilled_orders": opts}, ["pagerduty"], silences=[window]).emit(
        result("unbilled_orders", 25, clock(), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", KEY, "critical")]


def test_degraded_alert_after_k_unknown_runs_and_resolved_by_a_real_run(state_url: str) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    deg = "billing/unbilled_orders/degraded"
    for value in (None, None):
        run(state_url, value, clock, pd, degraded_after=3)
        clock.advance(minutes=5)
    assert pd.delivered == []
    run(state_url, None, clock, pd, degraded_after=3)
    assert pd.seen() == [("trigger", "degraded", deg, "warning")]
    assert "could not run 3 times" in pd.delivered[0].summary
    assert "connection refused" in pd.delivered[0].summary
    run(state_url, 0, clock.advance(minutes=5) and clock, pd, degraded_after=3)
    assert pd.seen()[1:] == [("resolve", "resolve", deg, "warning")]


def test_state_and_outbox_commit_together_or_not_at_all(
    store: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
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
    assert pd.seen() == [("trigger", "open", KEY, "critical")]  # not lost by the failure


def test_counts_and_hysteresis_survive_restarts(state_url: str) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    cfg = {"trigger_after": 3, "resolve_after": 2, "recovery": 4, "warning": None}
    for value in (25, 25, 0, 25, 25):  # the OK breaks the streak: no page yet
        run(state_url, value, clock, pd, **cfg)
        clock.advance(minutes=5)
    assert pd.delivered == []
    run(state_url, 25, clock, pd, **cfg)
    assert pd.seen() == [("trigger", "open", KEY, "critical")]
    for value in (7, 7, 3, 7, 3):  # OK but above the recovery level 4 does not count
        clock.advance(minutes=5)
        run(state_url, value, clock, pd, **cfg)
    assert len(pd.delivered) == 1
    clock.advance(minutes=5)
    run(state_url, 2, clock, pd, **cfg)
    assert pd.seen()[1:] == [("resolve", "resolve", KEY, "critical")]


def test_period_rollover_resolves_last_weeks_key_and_opens_this_weeks(store: Engine) -> None:
    from monitor.status import read_status

    clock, pd = Clock(), FakeNotifier("pagerduty")
    opts = options()
    checks = {"unbilled_orders": opts}
    for _ in range(2):
        make_engine(store, checks, ["pagerduty"]).emit(
            result("unbilled_orders", 25, clock(), opts))
        clock.advance(days=4)  # Thursday W47, then Monday W48
    make_dispatcher(store, [pd], clock).dispatch()
    new = "billing/unbilled_orders/2026-W48"
    assert pd.seen() == [("trigger", "open", KEY, "critical"),
                         ("resolve", "resolve", KEY, "critical"),
                         ("trigger", "open", new, "critical")]
    assert "period of billing/unbilled_orders/2026-W47 ended" in pd.delivered[1].summary
    status = read_status(store, clock(), ["unbilled_orders"])
    assert [i.dedup_key for i in status.incidents] == [new]
    make_engine(store, checks, ["pagerduty"]).emit(result("unbilled_orders", 0, clock(), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen()[3:] == [("resolve", "resolve", new, "critical")]
    assert read_status(store, clock(), ["unbilled_orders"]).incidents == []


def test_non_period_scoped_check_keeps_one_key_across_weeks(store: Engine) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    opts = options(period_scoped=False)
    for _ in range(3):
        make_engine(store, {"unbilled_orders": opts}, ["pagerduty"]).emit(
            result("unbilled_orders", 25, clock(), opts))
        clock.advance(days=4)
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", "billing/unbilled_orders", "critical")]


def test_a_new_period_after_a_resolved_incident_pages_once(store: Engine) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    opts = options()
    checks = {"unbilled_orders": opts}
    for value, days in ((25, 0), (0, 1), (25, 3), (25, 0), (25, 0), (25, 0)):
        clock.advance(days=days, minutes=5)  # W47 opens and resolves; then W48 fails
        make_engine(store, checks, ["pagerduty"]).emit(
            result("unbilled_orders", value, clock(), opts))
        make_dispatcher(store, [pd], clock).dispatch()
    new = "billing/unbilled_orders/2026-W48"
    assert pd.seen() == [("trigger", "open", KEY, "critical"),
                         ("resolve", "resolve", KEY, "critical"),
                         ("trigger", "open", new, "critical")]


def test_a_run_without_any_notifier_holds_alerts_for_a_run_that_has_one(
    store: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    opts = options()
    checks = {"unbilled_orders": opts}
    make_engine(store, checks, []).emit(result("unbilled_orders", 25, clock(), opts))
    assert "alerts for unbilled_orders are held" in caplog.text
    assert outbox.stats(store, clock()).depth == 0
    for value in (25, 0):  # the daemon, with PagerDuty configured
        make_engine(store, checks, ["pagerduty"]).emit(
            result("unbilled_orders", value, clock.advance(minutes=5), opts))
        make_dispatcher(store, [pd], clock).dispatch()
    make_engine(store, checks, []).emit(  # manual run again, billing broken
        result("unbilled_orders", 25, clock.advance(minutes=5), opts))
    make_engine(store, checks, []).emit(  # ... and fixed before the daemon runs
        result("unbilled_orders", 0, clock.advance(minutes=5), opts))
    make_engine(store, checks, ["pagerduty"]).emit(
        result("unbilled_orders", 25, clock.advance(minutes=5), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", KEY, "critical"),
                         ("resolve", "resolve", KEY, "critical"),
                         ("trigger", "open", KEY, "critical")]


def test_a_held_resolve_is_sent_by_the_next_run_that_can(store: Engine) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    opts = options()
    checks = {"unbilled_orders": opts}
    make_engine(store, checks, ["pagerduty"]).emit(result("unbilled_orders", 25, clock(), opts))
    make_engine(store, checks, []).emit(
        result("unbilled_orders", 0, clock.advance(minutes=5), opts))
    make_engine(store, checks, ["pagerduty"]).emit(
        result("unbilled_orders", 0, clock.advance(minutes=5), opts))
    make_dispatcher(store, [pd], clock).dispatch()
    assert pd.seen() == [("trigger", "open", KEY, "critical"),
                         ("resolve", "resolve", KEY, "critical")]


def test_concurrent_runs_of_one_check_page_once(state_url: str) -> None:
    """Two monitor processes (threads with their own engines here) evaluating
    the same check at once, from its very first run: one incident."""
    import threading

    clock, pd = Clock(), FakeNotifier("pagerduty")
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

    open_state(state_url).dispose()  # migrate once, as the daemon's start-up would
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = open_state(state_url)
    make_dispatcher(engine, [pd], clock).dispatch()
    engine.dispose()
    assert pd.seen() == [("trigger", "open", KEY, "critical")]


def test_removing_a_failing_check_from_the_config_resolves_its_incident(
    state_url: str,
) -> None:
    clock, pd = Clock(), FakeNotifier("pagerduty")
    run(state_url, 25, clock, pd)  # billing/unbilled_orders/... is open and was paged
    engine = open_state(state_url)
    other = {"failed_charges": options()}
    # A process without a notifier leaves it alone: it could not send the resolve.
    assert make_engine(engine, other, []).retire_removed(clock()) == []
    retire = make_engine(engine, other, ["pagerduty"]).retire_removed(clock.advance(minutes=1))
    assert retire == ["billing/unbilled_orders/2026-W47"]
    assert make_engine(engine, other, ["pagerduty"]).retire_removed(clock()) == []  # once
    make_dispatcher(engine, [pd], clock).dispatch()
    engine.dispose()
    assert [(a, k) for a, _, k, _ in pd.seen()] == [
        ("trigger", "billing/unbilled_orders/2026-W47"),
        ("resolve", "billing/unbilled_orders/2026-W47"),
    ]
    assert "removed from the configuration" in pd.delivered[-1].summary
