"""Checks on what localstripe lacks, with recorded fixtures shaped like
Stripe's API reference: webhook endpoints, undelivered events, disputes,
open invoices past due, invoice.payment_failed events; thresholds judge only
the headline metrics; the [stripe] settings section."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from billing_monitor.checking.runner import PlannedCheck, evaluate
from billing_monitor.checks.contract import Measurement, Status
from billing_monitor.checks.errors import ConfigError
from billing_monitor.checks.stripe.feeds import DisputesOpened, DisputesOptions, FailureRateOptions
from billing_monitor.checks.stripe.lists import (
    InvoiceOptions,
    InvoicePaymentFailures,
    WebhookHealth,
    WebhookOptions,
)
from billing_monitor.checks.stripe.state import SqlCursorStore
from billing_monitor.settings.load import parse_settings
from tests.peers.fake_stripe import api_for, context, event
from tests.stripe_fixtures import fake, store

__all__ = ["fake", "store"]  # fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
T0 = 1_790_000_040


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def by_name(ms: Any) -> dict[str, Measurement]:
    return {m.name: m for m in ms}


def test_webhook_health_finds_disabled_endpoints_and_late_events(fake: Any) -> None:
    server, url = fake
    server.add("webhook_endpoints", *fixture("webhook_endpoints.json"))
    obj = {"id": "in_1", "object": "invoice"}
    server.add("events",
               event("evt_old_pending", "invoice.paid", T0 - 7200, obj, pending=2),
               event("evt_old_done", "invoice.paid", T0 - 7100, obj, pending=0),
               event("evt_fresh_pending", "invoice.paid", T0 - 60, obj, pending=1))
    check = WebhookHealth("webhooks", api_for(url),
                          WebhookOptions(type="webhook_health", undelivered_age_minutes=30))
    got = by_name(check.collect(context(T0)))
    assert got["stripe.webhook_endpoints_disabled"].value == 1
    assert got["stripe.webhook_endpoints_disabled"].samples == ("we_1Mr5kBLkdIwHu7ixRaNbL0Zc",)
    assert got["stripe.events_undelivered"].value == 1
    assert got["stripe.events_undelivered"].samples == ("evt_old_pending",)
    events_request = next(r for r in server.requests if r.startswith("/v1/events"))
    assert "delivery_success=false" in events_request
    assert f"created[lte]={T0 - 1800}" in events_request


def test_disputes_are_counted_over_pages_with_reasons(fake: Any, store: SqlCursorStore) -> None:
    server, url = fake
    dispute = fixture("dispute.json")
    for i in range(230):
        d = copy.deepcopy(dispute)
        d["id"] = f"dp_{i:04d}"
        d["reason"] = "fraudulent" if i % 2 else "product_not_received"
        server.add("events", event(f"evt_{i:04d}", "charge.dispute.created", T0 - 5000 + i, d))
    server.add("events", event("evt_other", "charge.succeeded", T0 - 10, {"id": "ch_1"}))
    check = DisputesOpened("disputes", api_for(url), store, DisputesOptions(type="disputes_opened"))
    ms = list(check.collect(context(T0, sample_limit=3)))
    got = by_name(ms)
    assert got["stripe.disputes_opened"].value == 230
    assert got["stripe.disputes_opened"].samples == ("dp_0229", "dp_0228", "dp_0227")
    reasons = {m.tags: m.value for m in ms if m.name == "stripe.disputes_by_reason"}
    assert reasons == {("reason:fraudulent",): 115, ("reason:product_not_received",): 115}
    assert got["stripe.requests"].value == 3


def test_invoice_failures_from_events_and_open_invoices_past_due(
    fake: Any, store: SqlCursorStore
) -> None:
    server, url = fake
    invoice = fixture("invoice.json")
    overdue = {**invoice, "id": "in_overdue", "due_date": T0 - 86400}
    not_due = {**invoice, "id": "in_not_due", "due_date": T0 + 86400, "attempt_count": 0}
    paid = {**invoice, "id": "in_paid", "status": "paid", "due_date": T0 - 86400}
    server.add("invoices", overdue, not_due, paid)
    server.add("events", event("evt_f1", "invoice.payment_failed", T0 - 600, invoice))
    check = InvoicePaymentFailures("invoices", api_for(url), store,
                                   InvoiceOptions(type="invoice_payment_failures"))
    got = by_name(check.collect(context(T0)))
    assert got["stripe.invoice_payment_failed"].value == 1
    assert got["stripe.invoice_payment_failed"].samples == ("in_1MtHbELkdIwHu7ixl4OzzPMv",)
    assert got["stripe.invoices_past_due"].value == 1
    assert got["stripe.invoices_past_due"].samples == ("in_overdue",)
    manual = {**invoice, "id": "in_manual", "collection_method": "send_invoice"}
    server.add("invoices", manual)
    got = by_name(check.collect(context(T0 + 60)))
    assert got["stripe.invoices_failed_attempts"].value == 1  # charged and failed, still open
    assert got["stripe.invoices_failed_attempts"].samples == ("in_overdue",)


def test_decline_codes_from_a_recorded_event(fake: Any, store: SqlCursorStore) -> None:
    from billing_monitor.checks.stripe.feeds import PaymentFailureRate

    server, url = fake
    failed = fixture("payment_failed_event.json")
    failed["created"] = T0 - 30
    server.add("events", failed)
    opts = FailureRateOptions(type="payment_failure_rate", min_volume=1)
    ms = list(PaymentFailureRate("rate", api_for(url), store, opts).collect(context(T0)))
    codes = [m.tags for m in ms if m.name == "stripe.payment_failures"]
    assert codes == [("code:card_declined", "decline_code:insufficient_funds")]
    assert by_name(ms)["stripe.payment_failure_rate"].samples == ("pi_3MtwBwLkdIwHu7ix28a3tqPa",)


def test_only_the_headline_metric_is_judged() -> None:
    opts = FailureRateOptions(type="payment_failure_rate")  # warn 0.1, crit 0.25
    planned = PlannedCheck(object(), opts)  # type: ignore[arg-type]
    evals = evaluate(planned, [
        Measurement("stripe.payment_failure_rate", 0.3),
        Measurement("stripe.payments_failed", 300),
        Measurement("stripe.requests", 7),
    ])
    assert [e.status for e in evals] == [Status.CRIT, Status.OK, Status.OK]


def test_stripe_settings_are_strict_and_named() -> None:
    raw = {"stripe": {"accounts": ["acct_1Nv0FGQ9RKHgCVdK", "bogus"], "api_key": "sk_live_x"},
           "checks": {"webhook_health": {}}}
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, "monitor.toml", {})
    problems = "\n".join(err.value.problems)
    assert "monitor.toml: stripe.accounts: 'bogus' is not a Stripe account id" in problems
    assert "monitor.toml: stripe.api_key: unknown key" in problems
    assert "sk_live_x" not in problems
    ok = parse_settings({"stripe": {"api_base": "http://127.0.0.1:9/"},
                         "checks": {"payment_failure_rate": {"min_volume": 50}}}, "m.toml", {})
    assert ok.stripe.api_base == "http://127.0.0.1:9"
