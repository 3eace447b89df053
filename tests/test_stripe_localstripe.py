"""The issue's scenario end to end: localstripe takes the payments (one card in
five declined, one 3-D Secure payment abandoned), the fake Stripe server adds
the API features localstripe lacks on top of it, the monitor runs once with
its real wiring, and the DogStatsD datagrams carry the failure rate with the
decline codes and the stuck intent."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from billing_monitor.assembly import build_alerting, build_runner, build_sinks
from billing_monitor.checking.services import AppServices
from billing_monitor.checks.contract import Status
from billing_monitor.settings.load import parse_settings
from tests.peers import localstripe as ls
from tests.peers.fake_stripe import KEY, fake_stripe
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer
from tests.peers.statsd import UdpListener


@pytest.fixture
def localstripe_url() -> Iterator[str]:
    if ls.executable() is None:
        if os.environ.get("CI"):
            pytest.fail("localstripe is required in CI")
        pytest.skip("localstripe not installed")
    with ls.localstripe() as url:
        yield url


def pay(client: ls.LocalStripeClient, card: str) -> dict[str, Any]:
    try:
        return client.pay(card)
    except httpx.HTTPStatusError as exc:  # a decline is a 402 with the error
        assert exc.response.status_code == 402
        return {"declined": exc.response.json()["error"]}


def gauges(lines: list[str]) -> dict[tuple[str, frozenset[str]], float]:
    out = {}
    for line in lines:
        if line.startswith("_sc|"):
            continue
        head, _, rest = line.partition("|g")
        name, _, value = head.rpartition(":")
        tags = rest.partition("#")[2]
        out[(name, frozenset(tags.split(",")) if tags else frozenset())] = float(value)
    return out


def test_declines_and_an_abandoned_3ds_payment_are_measured_in_one_run(
    localstripe_url: str, statsd: UdpListener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    pagerduty_peer: PagerDutyPeer, tls: Tls,
) -> None:
    client = ls.LocalStripeClient(localstripe_url)
    declined = [pay(client, "4000000000000341" if i % 5 == 0 else "4242424242424242")
                for i in range(20)]
    assert sum("declined" in p for p in declined) == 4
    abandoned = pay(client, "4000002500003155")
    assert abandoned["status"] == "requires_action"
    client.close()

    with fake_stripe(upstream=localstripe_url) as (_, url):
        raw = {
            "statsd": {"port": statsd.port, "tags": ["team:payments"]},
            "stripe": {"api_base": url, "max_network_retries": 0,
                       "state_url": f"sqlite:///{tmp_path / 'stripe.db'}"},
            "checks": {
                "payment_failure_rate": {"window_minutes": 1440, "min_volume": 10},
                "stuck_payment_intents": {"min_age_minutes": 30},
            },
        }
        raw["state"] = {"url": f"sqlite:///{tmp_path / 'state.db'}"}
        settings = parse_settings(raw, "test.toml", {})
        monkeypatch.setenv("STRIPE_API_KEY", KEY)
        services = AppServices(settings, os.environ)
        pd = PagerDutyNotifier("R0utingKeyForTheStripeScenario00", events_url=pagerduty_peer.url,
                               timeout=2, max_attempts=1, verify=tls.client)
        # The next scheduled run, an hour on: the 3-D Secure payment is now stuck.
        later = datetime.fromtimestamp(time.time() + 3600, UTC)
        alerting = build_alerting(settings, {"pagerduty": pd}, clock=lambda: later)
        sinks = build_sinks(settings, extra=[alerting.sink])
        report = build_runner(settings, services, sinks, clock=lambda: later).run()
        delivered = alerting.drain(10)
        for s in sinks:
            s.close()
        alerting.close()
        services.close()

    results = {r.check: r for r in report.results}
    rate = results["payment_failure_rate"]
    assert rate.error is None
    assert rate.status is Status.WARN  # 0.2: above the 0.1 warning, below 0.25
    stuck = results["stuck_payment_intents"]
    assert stuck.status is Status.WARN
    requires_action = next(m for m in stuck.measurements if "status:requires_action" in m.tags)
    assert requires_action.samples == (abandoned["id"],)

    got = gauges(statsd.drain())
    base = {"env:production", "service:billing", "team:payments"}
    assert got[("billing.stripe.payment_failure_rate",
                frozenset(base | {"check:payment_failure_rate"}))] == pytest.approx(0.2)
    # localstripe reports the code but no decline_code
    assert got[("billing.stripe.payment_failures", frozenset(
        base | {"check:payment_failure_rate", "code:card_declined", "decline_code:none"}))] == 4
    assert got[("billing.stripe.stuck_payment_intents", frozenset(
        base | {"check:stuck_payment_intents", "status:requires_action"}))] == 1
    assert got[("billing.stripe.requests",
                frozenset(base | {"check:stuck_payment_intents"}))] == 3
    assert ("billing.stripe.requests", frozenset(base | {"check:payment_failure_rate"})) in got

    # ... and the on-call engineer is paged, with the ids, once per check.
    assert delivered.delivered == 2 and delivered.errors == []
    by_class = {e["payload"]["class"]: e for e in pagerduty_peer.events}
    assert set(by_class) == {"payment_failure_rate", "stuck_payment_intents"}
    page = by_class["stuck_payment_intents"]
    assert page["event_action"] == "trigger" and page["payload"]["severity"] == "warning"
    assert abandoned["id"] in json.dumps(page["payload"]["custom_details"])
    assert "decline_code:none" in json.dumps(by_class["payment_failure_rate"]["payload"])


def test_failed_payouts_from_localstripe_are_counted(
    localstripe_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine

    from billing_monitor.checks.stripe.feeds import PayoutsFailed, PayoutsOptions
    from billing_monitor.checks.stripe.state import SqlCursorStore
    from tests.peers.fake_stripe import api_for, context

    client = ls.LocalStripeClient(localstripe_url)
    payout = client.post("/v1/payouts", {"amount": "1000", "currency": "eur", "status": "failed"})
    client.post("/v1/payouts", {"amount": "1000", "currency": "eur", "status": "paid"})
    client.close()
    with fake_stripe(upstream=localstripe_url) as (_, url):
        store = SqlCursorStore(create_engine(f"sqlite:///{tmp_path / 's.db'}"))
        check = PayoutsFailed("payouts", api_for(url), store, PayoutsOptions(type="payouts_failed"))
        result = {(m.name, m.tags): m for m in check.collect(context(int(time.time()) + 10))}
    failed = result[("stripe.payouts_failed", ())]
    assert failed.value == 1 and failed.samples == (payout["id"],)
    assert result[("stripe.payouts_failed_by_code", ("failure_code:could_not_process",))].value == 1


def test_reconciliation_understands_payment_intent_and_charge_ids(
    localstripe_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, insert

    from billing_monitor.checks.schema import billing_records, metadata, orders
    from billing_monitor.checks.stripe.reconcile import ReconcileOptions, StripeReconciliation
    from billing_monitor.checks.stripe.state import SqlCursorStore
    from tests.peers.fake_stripe import api_for, context

    client = ls.LocalStripeClient(localstripe_url)
    by_pi = pay(client, "4242424242424242")  # recorded by its PaymentIntent id
    by_charge = pay(client, "4242424242424242")  # recorded by its Charge id (older code)
    unrecorded = pay(client, "4242424242424242")  # the app never wrote it down
    declined = pay(client, "4000000000000341")["declined"]  # the app thinks it was paid
    client.close()
    charge = by_charge["latest_charge"]
    charge_id = charge["id"] if isinstance(charge, dict) else charge

    billing = create_engine(f"sqlite:///{tmp_path / 'billing.db'}")
    metadata.create_all(billing)
    now = int(time.time()) + 1800
    billed = datetime.fromtimestamp(now - 1200, UTC)
    with billing.begin() as conn:
        conn.execute(insert(orders), [
            {"id": i, "customer_id": 1, "status": "active", "billing_date": billed.date(),
             "amount_cents": 2000, "billed": True, "created_at": billed} for i in (1, 2, 3)])
        conn.execute(insert(billing_records), [
            {"order_id": 1, "amount_cents": 2000, "billed_at": billed,
             "stripe_payment_intent_id": by_pi["id"]},
            {"order_id": 2, "amount_cents": 2000, "billed_at": billed,
             "stripe_payment_intent_id": charge_id},
            {"order_id": 3, "amount_cents": 2000, "billed_at": billed,
             "stripe_payment_intent_id": declined["charge"]},  # a ch_ whose PI failed
        ])
    with fake_stripe(upstream=localstripe_url) as (_, url):
        store = SqlCursorStore(create_engine(f"sqlite:///{tmp_path / 's.db'}"))
        check = StripeReconciliation(
            "recon", api_for(url), store, billing, ReconcileOptions(type="stripe_reconciliation"))
        got = {m.name: m for m in check.collect(context(now))}
    missing = got["stripe.reconciliation_missing_local"]
    assert (missing.value, missing.samples) == (1, (unrecorded["id"],))
    wrong = got["stripe.reconciliation_not_succeeded"]
    assert (wrong.value, wrong.samples) == (1, (declined["charge"],))
    assert got["stripe.reconciliation_unchecked"].value == 0
