"""`export datadog` watches the metrics the checks really send: each check of
the volume and freshness types and every Stripe check is run against its
peer (the spec-validating Stripe peer, a SQLite billing database), its result
goes through the product's DogStatsD sink to a UDP socket, and the metric of
every exported monitor must be among the names that arrived for that check.
The expectation comes from the wire, not from the exporter."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from billing_monitor.alerting.history_fill import FillingHistory
from billing_monitor.alerting.store import open_state
from billing_monitor.alerts.statsd import StatsdSink, make_client
from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.checks.stripe.state import SqlCursorStore
from billing_monitor.commands.export import monitors
from billing_monitor.settings.load import parse_settings
from tests.peers.fake_stripe import api_for, context, event
from tests.peers.statsd import udp_listener
from tests.stripe_fixtures import fake
from tests.test_stripe_walk import STRIPE_TYPES, T0, Services, billing_db, populate

__all__ = ["fake"]  # fixtures

WEEK = 7 * 86400
SQL_TYPES = {
    "payment_volume": {"query": "SELECT currency, COUNT(*) AS count, SUM(amount) AS amount "
                                "FROM payments WHERE paid_at >= :window_start "
                                "AND paid_at < :window_end GROUP BY currency"},
    "payment_freshness": {"query": "SELECT MAX(paid_at) FROM payments WHERE paid_at <= :now",
                          "max_silence_minutes": 60},
}
EXTRA: dict[str, dict[str, Any]] = {
    **SQL_TYPES, "stripe_payment_freshness": {"max_silence_minutes": 60}}
MONITORED = re.compile(r":max:billing\.([a-z_.]+)\{[^}]*check:([a-z_0-9]+)")


def emitted(result: Any) -> set[str]:
    """The gauge names that reach DogStatsD for the check, without the namespace."""
    with udp_listener() as udp:
        sink = StatsdSink(make_client("127.0.0.1", udp.port, None), "billing.", ["env:test"])
        sink.emit(result)
        sink.close()
        lines = udp.drain(1.0)
    return {line.split(":", 1)[0].removeprefix("billing.") for line in lines
            if "|g" in line and f"check:{result.check}" in line}


def weeks_of_payments(server: Any, engine: Any) -> None:
    """Payments in the hour before this time of week, now and 1-4 weeks back:
    in Stripe (stripe_payment_volume back-fills them) and in the billing database."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE payments (currency TEXT, amount INTEGER, paid_at TEXT)"))
        for k in range(4, -1, -1):
            for m in range(1, 61):
                at = T0 - k * WEEK - 60 * m
                server.add("events", event(f"evt_p{k}_{m}", "payment_intent.succeeded", at, {
                    "id": f"pi_p{k}_{m}", "object": "payment_intent", "currency": "usd",
                    "amount": 900, "amount_received": 900}))
                conn.execute(text("INSERT INTO payments VALUES ('usd', 900, :at)"),
                             {"at": datetime.fromtimestamp(at, UTC).isoformat(sep=" ")})


@pytest.fixture
def sent(fake: Any, tmp_path: Path) -> dict[str, set[str]]:
    server, url = fake
    populate(server, None)
    engine = billing_db(tmp_path)
    weeks_of_payments(server, engine)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    services = Services(api_for(url), SqlCursorStore(create_engine(state)), engine)
    services.history = lambda: FillingHistory(open_state(state))  # type: ignore[method-assign]
    out: dict[str, set[str]] = {}
    for type_ in (*STRIPE_TYPES, *SQL_TYPES):
        opts = CHECK_TYPES[type_].options(type=type_, **EXTRA.get(type_, {}))
        check = CHECK_TYPES[type_].build(type_, opts, services)
        ctx = context(T0)
        result = run_check(PlannedCheck(check, opts), ctx.period, ctx.now, 20)
        assert result.error is None, (type_, result.error)
        out[type_] = emitted(result)
    assert not server.refused
    return out


def test_every_monitor_watches_a_metric_its_check_sends(sent: dict[str, set[str]]) -> None:
    checks = {t: {"type": t, **EXTRA.get(t, {})} for t in sent}
    settings = parse_settings({"monitor": {"service": "payments", "env": "prod"},
                               "checks": checks}, "test.toml", {})
    watched: dict[str, set[str]] = {}
    for m in monitors(settings):
        found = MONITORED.search(m["query"])
        if found:
            watched.setdefault(found[2], set()).add(found[1])
    for type_, names in sent.items():
        t = settings.checks[type_].thresholds
        if t.warning is None and t.critical is None:
            continue  # no thresholds: no monitor
        assert watched.get(type_), f"{type_}: no monitor exported"
        assert watched[type_] <= names, (type_, watched[type_], names)
    # The judged metrics of the volume and freshness checks, from both sources.
    for type_ in ("payment_volume", "stripe_payment_volume"):
        assert watched[type_] == {"payment_volume.below_baseline"}
    for type_ in ("payment_freshness", "stripe_payment_freshness"):
        assert watched[type_] == {"payment_freshness.over_limit"}
