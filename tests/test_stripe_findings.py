"""Issue 16's findings, each against the spec-validating peer: what would fail
or mislead against the real Stripe API, and now does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine

from billing_monitor.alerts.chat_format import detail_lines
from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.contract import Measurement
from billing_monitor.checks.stripe.lists import (
    StuckOptions,
    StuckPaymentIntents,
    WebhookHealth,
    WebhookOptions,
)
from billing_monitor.checks.stripe.reconcile import ReconcileOptions, StripeReconciliation
from billing_monitor.checks.stripe.state import SqlCursorStore
from tests.peers.fake_stripe import api_for, context, event
from tests.stripe_fixtures import fake, store

__all__ = ["fake", "store"]  # fixtures
T0 = 1_790_000_040


def pi(n: int, status: str, created: int) -> dict[str, Any]:
    return {"id": f"pi_{n:05d}", "object": "payment_intent", "status": status,
            "created": created}


def by_tags(ms: Any, name: str) -> dict[tuple[str, ...], Measurement]:
    return {m.tags: m for m in ms if m.name == name}


def test_stuck_intents_are_counted_past_one_page_and_capped_at_the_bound(fake: Any) -> None:
    server, url = fake
    server.add("payment_intents", *(pi(i, "processing", T0 - 7200 + i) for i in range(250)))
    server.add("payment_intents", pi(900, "processing", T0 - 60))  # not old enough
    check = StuckPaymentIntents("stuck", api_for(url), StuckOptions(
        type="stuck_payment_intents", statuses=("processing",), max_pages=5))
    got = by_tags(check.collect(context(T0, sample_limit=3)), "stripe.stuck_payment_intents")
    exact = got[("status:processing",)]
    assert exact.value == 250 and exact.samples == ("pi_00249", "pi_00248", "pi_00247")
    assert server.refused == []  # no expand[]=total_count: Stripe refuses it
    bounded = StuckPaymentIntents("stuck", api_for(url), StuckOptions(
        type="stuck_payment_intents", statuses=("processing",), max_pages=2))
    ms = list(bounded.collect(context(T0)))
    capped = by_tags(ms, "stripe.stuck_payment_intents")[("status:processing", "capped:true")]
    assert capped.value == 200  # a lower bound, and tagged as one
    assert by_tags(ms, "stripe.capped_counts")[()].value == 1


def test_an_unknown_events_cursor_recovers_on_stripes_400(
    fake: Any, store: SqlCursorStore
) -> None:
    from billing_monitor.checks.stripe.feeds import FailureRateOptions, PaymentFailureRate

    server, url = fake
    server.add("events", event("evt_1", "payment_intent.succeeded", T0 - 100,
                               pi(1, "succeeded", T0 - 100)))
    check = PaymentFailureRate("rate", api_for(url), store,
                               FailureRateOptions(type="payment_failure_rate", min_volume=1))
    check.collect(context(T0))
    # The key now points at another mode or account: Stripe knows no evt_1.
    server.store("events").clear()
    server.add("events", event("evt_live", "payment_intent.succeeded", T0 + 30,
                               pi(2, "succeeded", T0 + 30)))
    server.requests.clear()
    ms = {m.name: m.value for m in check.collect(context(T0 + 60))}
    assert "ending_before=evt_1" in server.requests[0]
    assert "created" in server.requests[1]  # fell back to the backfill by time
    assert ms["stripe.payments_succeeded"] == 2


def _payments_db(
    tmp_path: Path, rows: list[tuple[str, str | None]], at: list[int] | None = None
) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    md = MetaData()
    payments = Table("payments", md, Column("pi", String), Column("account", String),
                     Column("billed_at", DateTime(timezone=True)))
    md.create_all(engine)
    times = at or [T0 - 3600] * len(rows)
    with engine.begin() as conn:
        conn.execute(payments.insert(), [
            {"pi": p, "account": a, "billed_at": datetime.fromtimestamp(t, UTC)}
            for (p, a), t in zip(rows, times, strict=True)])
    return engine


def test_reconciliation_looks_each_id_up_in_its_own_account_only(
    fake: Any, store: SqlCursorStore, tmp_path: Path
) -> None:
    server, url = fake
    server.add("events", event("evt_a", "payment_intent.succeeded", T0 - 3600,
                               pi(1, "succeeded", T0 - 3600)), account="acct_1Aa")
    # acct_2Bb's payment succeeded before the window: found only by a lookup there.
    server.add("payment_intents", pi(2, "succeeded", T0 - 90000), account="acct_2Bb")
    engine = _payments_db(tmp_path, [("pi_00001", "acct_1Aa"), ("pi_00002", "acct_2Bb"),
                                     ("pi_00003", "acct_9Zz")])
    query = ("SELECT pi, account FROM payments "
             "WHERE billed_at >= :since AND billed_at < :until")
    api = api_for(url, accounts=("acct_1Aa", "acct_2Bb"))
    check = StripeReconciliation("recon", api, store, engine, ReconcileOptions(
        type="stripe_reconciliation", query=query))
    ms = list(check.collect(context(T0)))
    wrong = by_tags(ms, "stripe.reconciliation_not_succeeded")
    assert {t: m.value for t, m in wrong.items()} == {
        ("account:acct_1Aa",): 0, ("account:acct_2Bb",): 0}
    lookups = [(r, a) for r, a in zip(server.requests, server.accounts, strict=True)
               if r.startswith("/v1/payment_intents/")]
    assert lookups == [("/v1/payment_intents/pi_00002", "acct_2Bb")]
    other = by_tags(ms, "stripe.reconciliation_unmonitored")[()]
    assert (other.value, other.samples) == (1, ("pi_00003",))


def test_webhook_health_reads_the_platform_endpoints_once_and_accounts_when_asked(
    fake: Any,
) -> None:
    server, url = fake
    server.add("webhook_endpoints", {"id": "we_platform", "status": "disabled"})
    server.add("webhook_endpoints", {"id": "we_own", "status": "disabled"}, account="acct_1Aa")
    api = api_for(url, accounts=("acct_1Aa", "acct_2Bb"))
    check = WebhookHealth("hooks", api, WebhookOptions(type="webhook_health"))
    got = by_tags(check.collect(context(T0)), "stripe.webhook_endpoints_disabled")
    assert {t: m.samples for t, m in got.items()} == {(): ("we_platform",)}
    endpoint_reads = [a for r, a in zip(server.requests, server.accounts, strict=True)
                      if r.startswith("/v1/webhook_endpoints")]
    assert endpoint_reads == [None]
    asked = WebhookHealth("hooks", api, WebhookOptions(type="webhook_health",
                                                       account_endpoints=True))
    got = by_tags(asked.collect(context(T0)), "stripe.webhook_endpoints_disabled")
    assert {t: m.value for t, m in got.items()} == {
        (): 1, ("account:acct_1Aa",): 1, ("account:acct_2Bb",): 0}


def test_undelivered_events_past_the_bound_are_reported_as_capped(fake: Any) -> None:
    server, url = fake
    obj = {"id": "in_1", "object": "invoice"}
    server.add("events", *(event(f"evt_{i:05d}", "invoice.paid", T0 - 7200 + i, obj, pending=1)
                           for i in range(1050)))
    check = WebhookHealth("hooks", api_for(url), WebhookOptions(type="webhook_health"))
    result = run_check(PlannedCheck(check, check.options), context(T0).period,
                       context(T0).now, 20)
    ms = result.measurements
    late = by_tags(ms, "stripe.events_undelivered")[("capped:true",)]
    assert late.value == 1000  # 10 pages of 100: a lower bound, never "1000 exactly"
    capped = by_tags(ms, "stripe.capped_counts")[()]
    assert capped.samples == ("stripe.events_undelivered",)
    text = "\n".join(detail_lines(result.to_dict()))
    assert "stripe.capped_counts = 1" in text and "stripe.events_undelivered" in text


def test_a_failed_run_still_reports_its_requests(fake: Any) -> None:
    server, url = fake
    server.faults += [("429", 0)] * 3
    check = WebhookHealth("hooks", api_for(url, rate_limit_retries=2),
                          WebhookOptions(type="webhook_health"))
    result = run_check(PlannedCheck(check, check.options), context(T0).period,
                       context(T0).now, 20)
    assert result.status.label == "UNKNOWN"
    assert {m.name: m.value for m in result.measurements} == {"stripe.requests": 3}


def test_reconciliation_compares_only_what_a_bounded_backfill_covered(
    fake: Any, store: SqlCursorStore, tmp_path: Path
) -> None:
    server, url = fake
    server.add("events", *(event(f"evt_{i:04d}", "payment_intent.succeeded", T0 - 7000 + i,
                                 pi(i, "succeeded", T0 - 7000 + i)) for i in range(250)))
    engine = _payments_db(tmp_path, [(f"pi_{i:05d}", None) for i in range(250)],
                          [T0 - 7000 + i for i in range(250)])
    query = "SELECT pi FROM payments WHERE billed_at >= :since AND billed_at < :until"
    check = StripeReconciliation("recon", api_for(url), store, engine, ReconcileOptions(
        type="stripe_reconciliation", query=query, backfill_max_pages=1))
    ms = {m.name: m for m in check.collect(context(T0))}
    # One page of events (the newest 100) read: the older local ids are not
    # looked up one by one as if Stripe had no record of them.
    assert not any(r.startswith("/v1/payment_intents/") for r in server.requests)
    assert ms["stripe.reconciliation_not_succeeded"].tags == ("capped:true",)
    assert ms["stripe.reconciliation_missing_local"].value == 0
