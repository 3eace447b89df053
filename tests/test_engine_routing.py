"""Where the alert engine queues each notification (README "Routing alerts"):
a trigger goes where the routes send its check and severity ("degraded" for
the degraded alert) and to every channel that already has the incident; a
channel routed while the incident is open gets its trigger at the next run
(not while the check is silenced); the resolve goes to every channel that
had the trigger. Read from the outbox the engine writes, in one process, so
that the mutation run sees every branch; the expectations are written by
hand from those rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select

from billing_monitor.alerting import outbox, silences
from billing_monitor.alerting.engine import AlertEngine
from billing_monitor.alerting.tables import outbox as table
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.contract import CheckResult, Status
from billing_monitor.checks.period import current_period
from tests.alerting_support import Clock, make_engine, options, result, state_url, store

__all__ = ["state_url", "store"]  # fixtures

KEY = "billing/refunds/2026-W47"
DEG = "billing/refunds/degraded"
ROUTES = {"critical": ["pagerduty"], "warning": ["slack"], "degraded": ["google_chat"]}
ALL = ["pagerduty", "slack", "google_chat"]
Queued = tuple[str, str, str, str, str]  # channel, action, reason, severity, dedup key


class Outbox:
    """What the engine queued since the last look."""

    def __init__(self, store: Engine) -> None:
        self.store, self.seen = store, 0
        self.notes: list[Notification] = []  # the last look's, whole

    def new(self) -> list[Queued]:
        with self.store.connect() as conn:
            rows = conn.execute(select(table.c.id, table.c.channel, table.c.payload)
                                .where(table.c.id > self.seen).order_by(table.c.id)).all()
        if rows:
            self.seen = rows[-1][0]
        out, self.notes = [], []
        for _, channel, payload in rows:
            n = outbox.from_payload(payload)
            self.notes.append(n)
            out.append((channel, n.action, n.reason, n.severity, n.dedup_key))
        return out


def engine(store: Engine, channels: Sequence[str], routed: bool = True,
           **alert: object) -> AlertEngine:
    return make_engine(store, {"refunds": options(**alert)}, list(channels),
                       route=(lambda check, severity: ROUTES[severity]) if routed else None)


def emit(e: AlertEngine, value: float | None, clock: Clock, **alert: object) -> None:
    e.emit(result("refunds", value, clock(), options(**alert)))


def test_each_severity_goes_where_its_route_says_and_the_resolve_where_triggers_went(
    store: Engine,
) -> None:
    box, clock, e = Outbox(store), Clock(), engine(store, ALL, degraded_after=1)
    emit(e, 7, clock, degraded_after=1)
    assert box.new() == [("slack", "trigger", "open", "warning", KEY)]
    emit(e, 25, clock.advance(minutes=5) and clock, degraded_after=1)  # to critical
    assert box.new() == [("pagerduty", "trigger", "escalate", "critical", KEY),
                         ("slack", "trigger", "escalate", "critical", KEY)]
    emit(e, 7, clock.advance(minutes=5) and clock, degraded_after=1)  # back to warning
    assert box.new() == [("slack", "trigger", "deescalate", "warning", KEY),
                         ("pagerduty", "trigger", "deescalate", "warning", KEY)]
    emit(e, 0, clock.advance(minutes=5) and clock, degraded_after=1)
    assert box.new() == [("pagerduty", "resolve", "resolve", "warning", KEY),
                         ("slack", "resolve", "resolve", "warning", KEY)]
    emit(e, None, clock.advance(minutes=5) and clock, degraded_after=1)
    assert box.new() == [("google_chat", "trigger", "degraded", "warning", DEG)]
    emit(e, 0, clock.advance(minutes=5) and clock, degraded_after=1)
    assert box.new() == [("google_chat", "resolve", "resolve", "warning", DEG)]


def test_a_channel_configured_while_an_incident_is_open_gets_its_trigger_next_run(
    store: Engine,
) -> None:
    box, clock = Outbox(store), Clock()
    emit(engine(store, ["slack"], routed=False), 25, clock)
    assert box.new() == [("slack", "trigger", "open", "critical", KEY)]
    both = engine(store, ["pagerduty", "slack"], routed=False)
    emit(both, 25, clock.advance(minutes=5) and clock)
    assert box.new() == [("pagerduty", "trigger", "open", "critical", KEY)]  # Slack: not again
    emit(both, 25, clock.advance(minutes=5) and clock)
    assert box.new() == []  # once
    # Resolved from a process that also has Google Chat: the two that had it.
    emit(engine(store, ALL, routed=False), 0, clock.advance(minutes=5) and clock)
    assert box.new() == [("pagerduty", "resolve", "resolve", "critical", KEY),
                         ("slack", "resolve", "resolve", "critical", KEY)]


def test_a_channel_routed_while_a_degraded_alert_is_open_gets_it_as_degraded(
    store: Engine,
) -> None:
    box, clock = Outbox(store), Clock()
    emit(engine(store, ["slack"], routed=False, degraded_after=1), None, clock,
         degraded_after=1)
    assert box.new() == [("slack", "trigger", "degraded", "warning", DEG)]
    both = engine(store, ["pagerduty", "slack"], routed=False, degraded_after=1)
    emit(both, None, clock.advance(minutes=5) and clock, degraded_after=1)
    assert box.new() == [("pagerduty", "trigger", "degraded", "warning", DEG)]
    [late] = box.notes
    assert late.summary == ("Monitor degraded: billing refunds could not run 2 times in a "
                            "row: OperationalError: connection refused")
    assert (late.group, late.source, late.custom_details["env"]) == (
        "billing", "monitor-test-host", "test")


def test_the_late_channel_is_found_by_the_check_s_own_route(store: Engine) -> None:
    box, clock = Outbox(store), Clock()
    emit(engine(store, ["slack"], routed=False), 25, clock)
    box.new()
    by_check = make_engine(store, {"refunds": options()}, ["pagerduty", "slack"],
                           route=lambda check, severity: (["pagerduty", "slack"]
                                                          if check == "refunds" else ["slack"]))
    emit(by_check, 25, clock.advance(minutes=5) and clock)
    assert box.new() == [("pagerduty", "trigger", "open", "critical", KEY)]


def test_the_late_channel_is_the_one_routed_for_the_incident_s_severity(
    store: Engine,
) -> None:
    """Open at warning with Slack only; PagerDuty then configured, routed for
    criticals only: it hears nothing of a warning, and the escalation reaches it."""
    box, clock = Outbox(store), Clock()
    emit(engine(store, ["slack"], routed=False), 7, clock)
    assert box.new() == [("slack", "trigger", "open", "warning", KEY)]
    routed = engine(store, ["pagerduty", "slack"])
    emit(routed, 7, clock.advance(minutes=5) and clock)
    assert box.new() == []  # a warning goes to Slack, which has it
    emit(routed, 25, clock.advance(minutes=5) and clock)
    assert box.new() == [("pagerduty", "trigger", "escalate", "critical", KEY),
                         ("slack", "trigger", "escalate", "critical", KEY)]


def test_no_late_trigger_while_silenced(store: Engine) -> None:
    box, clock = Outbox(store), Clock()
    emit(engine(store, ["slack"], routed=False), 25, clock)
    box.new()
    silences.add(store, "refunds", clock(), 30, "deploy", "carol")
    both = engine(store, ["pagerduty", "slack"], routed=False)
    emit(both, 25, clock.advance(minutes=5) and clock)
    assert box.new() == []
    emit(both, 25, clock.advance(minutes=30) and clock)  # the silence has ended
    assert box.new() == [("pagerduty", "trigger", "open", "critical", KEY)]


def test_a_resolve_of_an_incident_stored_without_its_channels_goes_to_every_channel(
    store: Engine,
) -> None:
    """A store from before the channels of an incident were kept (NULL): who
    had the trigger is unknown, so no channel gets it again as a late one,
    and every channel gets the resolve."""
    box, clock = Outbox(store), Clock()
    emit(engine(store, ["pagerduty"], routed=False), 25, clock)
    box.new()
    with store.begin() as conn:
        conn.exec_driver_sql("UPDATE alerts SET notified_channels = NULL")
    both = engine(store, ["pagerduty", "slack"], routed=False)
    emit(both, 25, clock.advance(minutes=5) and clock)
    assert box.new() == []
    emit(both, 0, clock.advance(minutes=5) and clock)
    assert box.new() == [("pagerduty", "resolve", "resolve", "critical", KEY),
                         ("slack", "resolve", "resolve", "critical", KEY)]


def test_the_delivery_loop_is_woken_only_when_something_was_queued(store: Engine) -> None:
    """`on_queued` (the daemon's wake-up of its delivery loop) is called after
    the commit of a run that queued rows, and of a retirement that resolved."""
    woken: list[int] = []
    clock = Clock()
    e = make_engine(store, {"refunds": options()}, ["slack"],
                    on_queued=lambda: woken.append(len(Outbox(store).new())))
    emit(e, 25, clock)
    assert woken == [1]  # the row was committed when the loop was woken
    emit(e, 25, clock.advance(minutes=5) and clock)
    assert woken == [1]
    gone = make_engine(store, {"other": options()}, ["slack"],
                       on_queued=lambda: woken.append(-1))
    assert gone.retire_removed(clock.advance(minutes=5)) == [KEY]
    assert woken == [1, -1]
    assert gone.retire_removed(clock.advance(minutes=5)) == []
    assert woken == [1, -1]


def _database_down(at: datetime) -> CheckResult:
    return CheckResult("refunds", Status.UNKNOWN, (), 0.1, at,
                       current_period("iso_week", "UTC", at),
                       error="OperationalError: connection refused", unreachable="database")


def test_a_database_down_pages_once_after_degraded_after_runs(store: Engine) -> None:
    box, clock = Outbox(store), Clock()
    e = engine(store, ["slack"], routed=False, degraded_after=2)
    e.emit(_database_down(clock()))
    assert box.new() == []  # one run of degraded_after 2
    e.emit(_database_down(clock.advance(minutes=5)))
    assert box.new() == [("slack", "trigger", "degraded", "error", "billing/source/database")]
    assert box.notes[0].custom_details["env"] == "test"
    e.emit(_database_down(clock.advance(minutes=5)))
    assert box.new() == []  # once


def test_a_database_down_is_not_paged_while_the_check_is_silenced(store: Engine) -> None:
    box, clock = Outbox(store), Clock()
    e = engine(store, ["slack"], routed=False, degraded_after=2)
    silences.add(store, "refunds", clock(), 60, "maintenance", "carol")
    for _ in range(3):
        e.emit(_database_down(clock()))
        clock.advance(minutes=5)
    assert box.new() == []


def test_a_run_that_resolves_a_source_and_triggers_wakes_the_delivery_loop(
    store: Engine,
) -> None:
    """The database answers again and the check is critical: the source
    incident's resolve and the check's trigger are queued in one run, and
    the daemon's delivery loop is woken for them."""
    box, clock, woken = Outbox(store), Clock(), []
    e = make_engine(store, {"refunds": options(degraded_after=2)}, ["slack"],
                    on_queued=lambda: woken.append(1))
    e.emit(_database_down(clock()))
    e.emit(_database_down(clock.advance(minutes=5)))
    box.new()
    woken.clear()
    e.emit(result("refunds", 25, clock.advance(minutes=5), options(degraded_after=2)))
    assert box.new() == [("slack", "resolve", "resolve", "error", "billing/source/database"),
                         ("slack", "trigger", "open", "critical", KEY)]
    assert woken == [1]
