"""Done means: a billing-database outage under ten checks gives one incident,
not ten. The real runner runs ten SQL checks (and one whose query is broken)
against a SQLite billing database that is not there, through the alert engine
and the outbox, to the PagerDuty peer; then the database is back. Keys:
`{service}/source/database`, `{service}/source/stripe`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import stripe

from billing_monitor.alerting import outbox
from billing_monitor.alerting.status import read_status
from billing_monitor.assembly import build_alerting, build_all_notifiers, build_offline
from billing_monitor.checks.sources import unreachable_of
from billing_monitor.checks.stripe.client import _unavailable
from billing_monitor.settings.load import parse_settings
from tests.alerting_support import Clock
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer

KEY = "S0urceD0wnRoutingKey0123456789ab"


def settings_for(tmp: Path, peer: PagerDutyPeer, env: dict[str, str]) -> Any:
    checks: dict[str, Any] = {f"c{i:02}": {"type": "sql", "metric": f"m{i:02}",
                                           "query": "SELECT 0"} for i in range(1, 11)}
    checks["broken"] = {"type": "sql", "metric": "broken", "query": "SELECT value FROM nowhere"}
    raw = {"database": {"url": f"sqlite:///{tmp / 'billing.db'}"},
           "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
           "pagerduty": {"events_url": peer.url, "max_attempts": 1},
           "checks": checks}
    return parse_settings(raw, "sources.toml", env)


def test_a_database_outage_under_ten_checks_gives_one_incident(
        tmp_path: Path, pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    env = {"PAGERDUTY_ROUTING_KEY": KEY}
    settings = settings_for(tmp_path, pagerduty_peer, env)
    clock = Clock()
    services, _, runner = build_offline(settings, env, clock)
    alerting = build_alerting(settings, build_all_notifiers(settings, env, tls.client),
                              clock=clock)
    runner.sinks = [alerting.sink]

    def run() -> list[Any]:
        report = runner.run()
        assert alerting.dispatcher.dispatch().errors == []
        clock.advance(minutes=5)
        return report.results

    for _ in range(4):  # the database file is not there: every check, every run
        results = run()
        assert {r.unreachable for r in results} == {"database"}
    assert [a.dedup_key for a in pagerduty_peer.incidents] == ["billing/source/database"]
    report = read_status(alerting.store, clock())
    (row,) = [i for i in report.incidents if i.kind == "source"]
    assert (row.dedup_key, row.delivery) == ("billing/source/database", "pagerduty: delivered")
    assert all(i.pending for i in report.incidents if i.kind == "degraded")  # held
    (incident,) = pagerduty_peer.open_alerts()
    assert incident.summary.startswith("Source down: billing cannot reach the database "
                                       "(broken, c01, c02, c03, c04, c05, c06, c07, c08, c09 "
                                       "and 1 more cannot run)")

    sqlite3.connect(tmp_path / "billing.db").close()  # the database answers again
    results = run()
    assert {r.check: r.unreachable for r in results if r.error} == {"broken": None}
    events = [(e["dedup_key"], e["event_action"]) for e in pagerduty_peer.events]
    assert events == [
        ("billing/source/database", "trigger"),
        ("billing/source/database", "resolve"),
        # the broken query still cannot run once the database answers: its own alert now
        ("billing/broken/degraded", "trigger"),
    ]
    assert outbox.stats(alerting.store, clock()) == outbox.OutboxStats(0, 0.0, 0)
    assert [i.dedup_key for i in read_status(alerting.store, clock()).incidents] == [
        "billing/broken/degraded"]
    services.close()


def test_stripe_network_errors_and_5xx_mark_stripe_unreachable_and_4xx_do_not() -> None:
    down = _unavailable("/v1/charges", stripe.APIConnectionError("reset"), "after 3 attempts")
    assert unreachable_of(down) == "stripe"
    five = stripe.APIError("boom", http_status=503)
    assert unreachable_of(_unavailable("/v1/charges", five, "after 3 attempts")) == "stripe"
    four = stripe.InvalidRequestError("bad", param="limit", http_status=400)
    assert unreachable_of(_unavailable("/v1/charges", four, "not retryable")) is None
    assert unreachable_of(ValueError("x")) is None
