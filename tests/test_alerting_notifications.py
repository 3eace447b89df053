"""What a notification carries, written out by hand from the README: the full
PagerDuty event for a trigger and for "monitor degraded", the summaries of a
resolve, and the outbox row of the resolve sent for a check removed from the
configuration (a resolve event to PagerDuty carries only its dedup key)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from billing_monitor.alerting.tables import outbox as outbox_table
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds
from tests.alerting_support import (
    ROUTING_KEY,
    Clock,
    PagerDuty,
    Slack,
    make_dispatcher,
    make_engine,
    pd,
    result,
    slack,
    state_url,
    store,
)

__all__ = ["pd", "slack", "state_url", "store"]  # fixtures

OPTS = CheckOptions(type="sql", thresholds=Thresholds(warning=5, critical=10),
                    description="Orders not billed this week", alert={"degraded_after": 1},
                    runbook_url="https://runbooks.example.com/billing/unbilled")
RUNBOOK = [{"href": "https://runbooks.example.com/billing/unbilled", "text": "Runbook"}]


def details(status: str, reason: str, measurements: list[dict[str, Any]],
            **extra: str) -> dict[str, Any]:
    return {"check": "unbilled_orders", "status": status, "period": "2026-W47",
            "reason": reason, "env": "test", "thresholds": "warn > 5, crit > 10",
            "measurements": measurements, **extra, "description": "Orders not billed this week"}


def emit(store: Engine, r: CheckResult, checks: dict[str, CheckOptions] | None = None) -> None:
    make_engine(store, {"unbilled_orders": OPTS} if checks is None else checks,
                ["pagerduty", "slack"]).emit(r)


def test_a_trigger_and_a_degraded_alert_as_pagerduty_receives_them(
    store: Engine, pd: PagerDuty, slack: Slack,
) -> None:
    clock = Clock()
    emit(store, result("unbilled_orders", 25, clock(), OPTS))
    emit(store, result("unbilled_orders", None, clock.advance(minutes=5), OPTS))
    make_dispatcher(store, [pd, slack], clock).dispatch()
    common = {"source": "monitor-test-host", "class": "unbilled_orders",
              "component": "unbilled_orders", "group": "billing"}
    assert pd.events() == [
        {"event_action": "trigger", "dedup_key": "billing/unbilled_orders/2026-W47",
         "routing_key": ROUTING_KEY, "links": RUNBOOK, "payload": {
             **common, "severity": "critical", "timestamp": "2026-11-19T05:30:00+00:00",
             "summary": "CRITICAL: billing unbilled_orders (2026-W47): "
                        "unbilled_orders=25 (CRIT > 10)",
             "custom_details": details("CRIT", "open", [
                 {"name": "unbilled_orders", "value": 25, "tags": [], "status": "CRIT",
                  "threshold": "> 10", "samples": ["order-1", "order-2"]}])}},
        {"event_action": "trigger", "dedup_key": "billing/unbilled_orders/degraded",
         "routing_key": ROUTING_KEY, "links": RUNBOOK, "payload": {
             **common, "severity": "warning", "timestamp": "2026-11-19T05:35:00+00:00",
             "summary": "Monitor degraded: billing unbilled_orders could not run once: "
                        "OperationalError: connection refused",
             "custom_details": details("UNKNOWN", "degraded", [],
                                       error="OperationalError: connection refused")}},
    ]
    assert [t.splitlines()[0] for t in slack.texts()] == [
        "🔴 ALERT [critical]: unbilled_orders", "⚠️ MONITOR DEGRADED [warning]: unbilled_orders"]


def test_resolve_summaries(store: Engine, slack: Slack) -> None:
    clock = Clock()
    emit(store, result("unbilled_orders", 25, clock(), OPTS))
    emit(store, result("unbilled_orders", 0, clock.advance(minutes=5), OPTS))
    emit(store, result("unbilled_orders", 25, clock.advance(minutes=5), OPTS))
    empty = CheckResult("unbilled_orders", Status.OK, (), 0.1, clock.advance(minutes=5),
                        current_period("iso_week", "UTC", clock()))
    emit(store, empty)  # a query that returned no rows: OK, nothing measured
    emit(store, result("unbilled_orders", None, clock.advance(minutes=5), OPTS))
    emit(store, result("unbilled_orders", 0, clock.advance(minutes=5), OPTS))
    make_dispatcher(store, [slack], clock).dispatch()
    assert [t.splitlines()[1] for t in slack.texts()] == [
        "CRITICAL: billing unbilled_orders (2026-W47): unbilled_orders=25 (CRIT > 10)",
        "RESOLVED: billing unbilled_orders (2026-W47): unbilled_orders=0",
        "CRITICAL: billing unbilled_orders (2026-W47): unbilled_orders=25 (CRIT > 10)",
        "RESOLVED: billing unbilled_orders (2026-W47): no measurements",
        "Monitor degraded: billing unbilled_orders could not run once: "
        "OperationalError: connection refused",
        "RESOLVED: monitor degraded: billing unbilled_orders runs again",
    ]


def test_the_resolve_for_a_removed_check_in_the_outbox(store: Engine) -> None:
    clock = Clock()
    emit(store, result("unbilled_orders", 25, clock(), OPTS))
    assert make_engine(store, {}, ["pagerduty"]).retire_removed(clock.advance(minutes=5)) == [
        "billing/unbilled_orders/2026-W47"]
    with store.connect() as conn:
        row = conn.execute(select(outbox_table).where(outbox_table.c.channel == "pagerduty")
                           .order_by(outbox_table.c.id.desc())).first()
    assert row is not None and row.dedup_key == "billing/unbilled_orders/2026-W47"
    assert row.payload == {
        "action": "resolve", "reason": "resolve", "dedup_key": "billing/unbilled_orders/2026-W47",
        "check": "unbilled_orders", "severity": "critical",
        "summary": "RESOLVED: billing unbilled_orders: the check was removed from the "
                   "configuration",
        "source": "monitor-test-host", "occurred_at": "2026-11-19T05:35:00+00:00",
        "component": "unbilled_orders", "group": "billing",
        "custom_details": {"check": "unbilled_orders", "reason": "check removed"}, "links": [],
    }


def test_summaries_of_several_values_and_of_an_unexplained_failure(
    store: Engine, pd: PagerDuty,
) -> None:
    """No runbook: no links. Two measurements: both in the summary. A check
    that could not run and gave no reason still says so."""
    bare = CheckOptions(type="sql", thresholds=Thresholds(warning=5, critical=10),
                        alert={"degraded_after": 1})
    clock = Clock()
    two = CheckResult("unbilled_orders", Status.CRIT, (
        Evaluation(Measurement("unbilled_orders", 25), Status.CRIT, "> 10"),
        Evaluation(Measurement("unbilled_orders", 7), Status.WARN, "> 5")), 0.1, clock(),
        current_period("iso_week", "UTC", clock()))
    emit(store, two, {"unbilled_orders": bare})
    silent = CheckResult("unbilled_orders", Status.UNKNOWN, (), 0.1, clock.advance(minutes=5),
                         current_period("iso_week", "UTC", clock()))
    emit(store, silent, {"unbilled_orders": bare})
    make_dispatcher(store, [pd], clock).dispatch()
    assert [("links" in e, e["payload"]["summary"]) for e in pd.events()] == [
        (False, "CRITICAL: billing unbilled_orders (2026-W47): unbilled_orders=25 (CRIT > 10), "
                "unbilled_orders=7 (WARN > 5)"),
        (False, "Monitor degraded: billing unbilled_orders could not run once: "
                "unknown error"),
    ]
