"""Every request the product can make is one Stripe accepts: every Stripe check
type of the registry, built as the app builds it, runs a first (backfill) and
a steady (incremental) run against the spec-validating peer, on the platform
and with Connect accounts, over data that makes it page, search, look up
PaymentIntents and Charges, and read every event type it counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert

from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.history import NullHistory
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.checks.schema import billing_records, metadata, orders
from billing_monitor.checks.stripe.base import StripeCheckOptions
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.state import CursorStore, SqlCursorStore
from tests.peers.fake_stripe import FakeStripe, api_for, context, event
from tests.stripe_fixtures import fake

__all__ = ["fake"]  # fixtures
T0 = 1_790_000_040
STRIPE_TYPES = sorted(
    n for n, t in CHECK_TYPES.items() if issubclass(t.options, StripeCheckOptions))
ACCOUNTS = ("acct_1Aa", "acct_2Bb")
EVENT_TYPES = ("payment_intent.succeeded", "payment_intent.payment_failed",
               "invoice.payment_failed", "charge.dispute.created", "payout.failed")


def populate(server: FakeStripe, account: str | None) -> None:
    add = lambda resource, *objs: server.add(resource, *objs, account=account)  # noqa: E731
    pis = [{"id": f"pi_w{i:04d}", "object": "payment_intent", "created": T0 - 90000 + i,
            "status": ("processing", "requires_action", "succeeded")[i % 3],
            "latest_charge": f"ch_w{i:04d}"} for i in range(330)]
    add("payment_intents", *pis)
    add("charges", *({"id": p["latest_charge"], "object": "charge", "payment_intent": p["id"],
                      "status": "succeeded", "created": p["created"]} for p in pis))
    add("events", *(event(f"evt_w{i:04d}", EVENT_TYPES[i % 5], T0 - 3000 + i,
                          {**pis[i % 330], "reason": "fraudulent", "failure_code": None},
                          pending=i % 2) for i in range(260)))
    add("subscriptions", *({"id": f"sub_w{i}", "object": "subscription", "created": T0 - i,
                            "status": "past_due"} for i in range(120)))
    add("invoices", *({"id": f"in_w{i}", "object": "invoice", "created": T0 - i,
                       "status": "open", "due_date": T0 - 86400, "attempt_count": 1,
                       "collection_method": "charge_automatically"} for i in range(110)))
    add("webhook_endpoints", {"id": "we_w1", "object": "webhook_endpoint", "status": "disabled"})


def billing_db(tmp_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'billing.db'}")
    metadata.create_all(engine)
    billed = datetime.fromtimestamp(T0 - 3600, UTC)
    with engine.begin() as conn:
        conn.execute(insert(orders), [{"id": 1, "customer_id": 1, "status": "active",
                                       "billing_date": billed.date(), "amount_cents": 1,
                                       "billed": True, "created_at": billed}])
        conn.execute(insert(billing_records), [
            {"order_id": 1, "amount_cents": 1, "billed_at": billed, "stripe_payment_intent_id": i}
            for i in ("pi_w0001", "ch_w0002", "pi_unknown")])
    return engine


class Services:
    def __init__(self, api: StripeApi, store: CursorStore, engine: Engine) -> None:
        self.api, self.store, self.engine = api, store, engine

    def billing_engine(self) -> Engine:
        return self.engine

    def stripe_client(self) -> StripeApi:
        return self.api

    def stripe_cursors(self) -> CursorStore:
        return self.store

    def history(self) -> NullHistory:
        return NullHistory()


def options(type_: str, connected: bool) -> Any:
    extra: dict[str, Any] = {}
    if type_ == "webhook_health" and connected:
        extra["account_endpoints"] = True
    if type_ == "stripe_reconciliation" and connected:
        extra["query"] = ("SELECT stripe_payment_intent_id, 'acct_1Aa' FROM billing_records "
                          "WHERE billed_at >= :since AND billed_at < :until")
    return CHECK_TYPES[type_].options(type=type_, **extra)


@pytest.mark.parametrize("connected", [False, True], ids=["platform", "connect"])
@pytest.mark.parametrize("type_", STRIPE_TYPES)
def test_every_request_of_every_check_is_one_stripe_accepts(
    fake: Any, tmp_path: Path, type_: str, connected: bool
) -> None:
    server, url = fake
    accounts = ACCOUNTS if connected else ()
    for account in (None, *accounts):
        populate(server, account)
    api = api_for(url, accounts=accounts)
    store = SqlCursorStore(create_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    opts = options(type_, connected)
    check = CHECK_TYPES[type_].build(type_, opts, Services(api, store, billing_db(tmp_path)))
    for at in (T0, T0 + 300):  # the first run backfills, the second reads incrementally
        ctx = context(at)
        result = run_check(PlannedCheck(check, opts), ctx.period, ctx.now, 20)
        assert server.refused == [], server.refused
        if type_ == "stripe_payment_volume":  # no history here: warm-up, requests made
            assert result.error is not None and "warm-up: 0 of 4 weeks" in result.error
        else:
            assert result.error is None
    assert len(server.requests) >= 2
    assert set(server.accounts) >= set(accounts)
