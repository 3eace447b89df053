"""Simulated Stripe traffic for bench/stripe_requests.py: payments spread evenly
over time (an event and a PaymentIntent each), the slower-moving objects the
other checks read, and the application's own records of the payments."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert

from billing_monitor.checks.history import NullHistory
from billing_monitor.checks.schema import billing_records, metadata, orders
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.state import CursorStore, SqlCursorStore
from tests.peers.fake_stripe import FakeStripe, api_for, event

STUCK = ("requires_action", "processing", "requires_capture")


class Traffic:
    def __init__(self, fake: FakeStripe, per_day: int) -> None:
        self.fake = fake
        self.per_day = per_day
        self.n = 0
        self.until = 0.0
        self.recorded: list[tuple[str, int]] = []  # (pi id, created) the app wrote down

    def fill(self, start: float, end: float) -> None:
        step = 86400 / self.per_day
        t = max(start, self.until)
        pis, events = [], []
        while t < end:
            self.n += 1
            failed = self.n % 20 == 0
            pi: dict[str, Any] = {
                "id": f"pi_{self.n:09d}", "object": "payment_intent", "created": int(t),
                "status": "requires_payment_method" if failed else "succeeded",
                "latest_charge": f"ch_{self.n:09d}",
                "last_payment_error": {"code": "card_declined", "decline_code": "do_not_honor"}
                if failed else None,
            }
            kind = "payment_intent.payment_failed" if failed else "payment_intent.succeeded"
            pis.append(pi)
            events.append(event(f"evt_{self.n:09d}", kind, int(t), pi))
            if not failed:
                self.recorded.append((pi["id"], int(t)))
            t += step
        self.until = t
        self.fake.add("payment_intents", *pis)
        self.fake.add("events", *events)

    def static(self, now: int) -> None:
        """What the other checks read, in Stripe's created order (oldest first)."""
        stuck = max(1, self.per_day // 1000)
        old: list[dict[str, Any]] = [
            {"id": f"pi_stuck_{s}_{i}", "object": "payment_intent", "status": s,
             "created": now - 3 * 86400 + i} for s in STUCK for i in range(stuck)]
        self.fake.store("payment_intents")[:0] = sorted(old, key=lambda p: int(p["created"]))
        self.fake.add("subscriptions", *({"id": f"sub_{i}", "object": "subscription",
                                          "status": "past_due", "created": now - 9000 + i}
                                         for i in range(100)))
        self.fake.add("invoices", *({"id": f"in_{i}", "object": "invoice", "status": "open",
                                     "due_date": now - 86400, "attempt_count": 1,
                                     "collection_method": "charge_automatically",
                                     "created": now - 9000 + i} for i in range(50)))
        self.fake.add("webhook_endpoints", *({"id": f"we_{i}", "status": "enabled"}
                                             for i in range(3)))
        side = [event(f"evt_side_{h}_{k}", k, now - h * 3600, {"id": f"obj_{h}",
                      "reason": "fraudulent", "failure_code": "account_closed"}, pending=1)
                for h in range(1, 24) for k in ("charge.dispute.created", "payout.failed")]
        side += [event(f"evt_late_{i}", "invoice.paid", now - 7200 + i, {"id": "in_x"},
                       pending=1) for i in range(10)]
        events = self.fake.store("events")
        events.extend(side)
        events.sort(key=lambda e: e["created"])


def naive_run(api: StripeApi, now: int, window: int) -> int:
    """Re-list the window's PaymentIntents (the list has no status filter)."""
    before = api.counter.total
    for _page in api.pages("/v1/payment_intents", {"created": {"gte": now - window}}, None,
                           max_pages=100_000):
        pass
    return api.counter.total - before


class _Services:
    def __init__(self, api: StripeApi, store: CursorStore, engine: Engine) -> None:
        self._api, self._store, self._engine = api, store, engine

    def billing_engine(self) -> Engine:
        return self._engine

    def stripe_client(self) -> StripeApi:
        return self._api

    def stripe_cursors(self) -> CursorStore:
        return self._store

    def history(self) -> NullHistory:
        return NullHistory()


def app_services(url: str, state: Path, app: Path, traffic: Traffic) -> _Services:
    engine = create_engine(f"sqlite:///{app}")
    metadata.create_all(engine)
    rows = traffic.recorded[::-1][:100_000]
    with engine.begin() as conn:
        conn.execute(insert(orders), [{"id": 1, "customer_id": 1, "status": "active",
                                       "billing_date": datetime.fromtimestamp(0, UTC).date(),
                                       "amount_cents": 1, "billed": True,
                                       "created_at": datetime.fromtimestamp(0, UTC)}])
        conn.execute(insert(billing_records), [
            {"order_id": 1, "amount_cents": 1, "stripe_payment_intent_id": p,
             "billed_at": datetime.fromtimestamp(t, UTC)} for p, t in rows])
    store = SqlCursorStore(create_engine(f"sqlite:///{state}"))
    return _Services(api_for(url), store, engine)
