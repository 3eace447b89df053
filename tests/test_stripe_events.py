"""The incremental Events cursor against a Stripe-shaped server: backfill over
several pages, ending_before in steady state, overlap de-duplication, and the
fallbacks to `created` filters."""

from __future__ import annotations

from typing import Any

import pytest

from billing_monitor.checks.contract import Measurement
from billing_monitor.checks.stripe.events import RETENTION_SECONDS, EventReader, FeedOptions
from billing_monitor.checks.stripe.feeds import FailureRateOptions, PaymentFailureRate
from billing_monitor.checks.stripe.state import Cursor, CursorUpdate, SqlCursorStore
from tests.peers.fake_stripe import FakeStripe, api_for, context, event
from tests.stripe_fixtures import fake, store

__all__ = ["fake", "store"]  # fixtures

T0 = 1_790_000_040  # a whole minute: window edges fall on bucket edges


class Payments:
    """PaymentIntent events appended oldest first, like Stripe creates them."""

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        self.n = 0

    def add(self, created: int, failed: bool = False, code: str = "card_declined") -> str:
        self.n += 1
        pi: dict[str, Any] = {"id": f"pi_{self.n:06d}", "object": "payment_intent",
                              "created": created, "last_payment_error": None}
        if failed:
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"code": code, "decline_code": "generic_decline",
                                        "type": "card_error"}
        else:
            pi["status"] = "succeeded"
        kind = "payment_intent.payment_failed" if failed else "payment_intent.succeeded"
        self.fake.add("events", event(f"evt_{self.n:06d}", kind, created, pi))
        return str(pi["id"])


def check(url: str, store: SqlCursorStore, **opts: Any) -> PaymentFailureRate:
    options = FailureRateOptions(type="payment_failure_rate", min_volume=1, **opts)
    return PaymentFailureRate("failures", api_for(url), store, options)


def values(ms: list[Measurement]) -> dict[str, float]:
    return {m.name + "".join("," + t for t in m.tags): m.value for m in ms}


def test_backfill_pages_then_reads_only_new_events(fake: Any, store: SqlCursorStore) -> None:
    server, url = fake
    pays = Payments(server)
    for i in range(250):  # one in five declined
        pays.add(T0 - 3000 + i * 10, failed=i % 5 == 0)
    c = check(url, store)
    first = values(list(c.collect(context(T0))))
    assert first["stripe.payments_failed"] == 50
    assert first["stripe.payments_succeeded"] == 200
    assert first["stripe.payment_failure_rate"] == pytest.approx(0.2)
    assert first["stripe.payment_failures,code:card_declined,decline_code:generic_decline"] == 50
    assert first["stripe.requests"] == 3  # 250 events, 100 a page
    assert all("created[gte]" in r for r in server.requests)
    server.requests.clear()

    for i in range(30):
        pays.add(T0 + 10 + i, failed=True, code="expired_card")
    second = values(list(c.collect(context(T0 + 300))))
    assert second["stripe.requests"] == 1
    assert "ending_before=evt_000250" in server.requests[0]
    assert "created" not in server.requests[0]
    assert second["stripe.payments_failed"] == 80
    assert second["stripe.payment_failures,code:expired_card,decline_code:generic_decline"] == 30


def test_steady_state_requests_do_not_grow_with_the_window(
    fake: Any, store: SqlCursorStore
) -> None:
    server, url = fake
    pays = Payments(server)
    for i in range(2000):
        pays.add(T0 - 20 * 3600 + i * 36)  # i >= 1909 fall in the last hour at T0+300
    short = check(url, store, window_minutes=60)
    long = check(url, store, window_minutes=24 * 60)
    long.name = "failures_day"
    short.collect(context(T0))
    long.collect(context(T0))
    for i in range(150):
        pays.add(T0 + 1 + i)
    runs = [values(list(c.collect(context(T0 + 300)))) for c in (short, long)]
    assert runs[0]["stripe.requests"] == runs[1]["stripe.requests"] == 2
    assert runs[1]["stripe.payments_succeeded"] == 2000 + 150
    assert runs[0]["stripe.payments_succeeded"] == 91 + 150  # the last hour only


def test_same_second_events_are_counted_once_and_late_ones_are_not_missed(
    fake: Any, store: SqlCursorStore
) -> None:
    server, url = fake
    pays = Payments(server)
    for _ in range(5):
        pays.add(T0 - 60)
    for _ in range(4):
        pays.add(T0 - 2)  # within the 5 s overlap: read again next run
    c = check(url, store, overlap_seconds=5)
    assert values(list(c.collect(context(T0))))["stripe.payments_succeeded"] == 9
    # An event of second T0-2 surfaces late, listed behind the ones already seen.
    late = {"id": "pi_late", "object": "payment_intent", "created": T0 - 2,
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "fraudulent"}}
    server.store("events").insert(5, event("evt_late", "payment_intent.payment_failed",
                                             T0 - 2, late))
    second = values(list(c.collect(context(T0 + 1))))
    assert second["stripe.payments_succeeded"] == 9
    assert second["stripe.payments_failed"] == 1


def test_a_cursor_stripe_no_longer_knows_falls_back_to_created(
    fake: Any, store: SqlCursorStore
) -> None:
    server, url = fake
    pays = Payments(server)
    for i in range(10):
        pays.add(T0 - 100 + min(i, 7) * 5)  # the last three share a second
    c = check(url, store)
    c.collect(context(T0))
    events = server.store("events")
    events.remove(next(e for e in events if e["id"] == "evt_000010"))
    pays.add(T0 + 50)
    server.requests.clear()
    result = values(list(c.collect(context(T0 + 60))))
    assert "ending_before=evt_000010" in server.requests[0]
    assert "created[gte]" in server.requests[1]
    # 10 read before (a deleted event stays counted), 1 new; the two events of
    # the cursor's second are read again and not counted twice.
    assert result["stripe.payments_succeeded"] == 11


def test_a_cursor_older_than_the_event_retention_is_not_used(
    fake: Any, store: SqlCursorStore
) -> None:
    server, url = fake
    now = T0
    old = now - RETENTION_SECONDS - 3600
    store.apply("feed", CursorUpdate(Cursor("evt_gone", old, old)))
    Payments(server).add(now - 30)
    reader = EventReader(api_for(url), store)
    opts = FeedOptions(("payment_intent.succeeded",), window_seconds=3600)
    result = reader.read("feed", None, now, opts, lambda e: [("n", None)])
    assert result.mode == "backfill"
    assert result.new_events == 1
    assert "ending_before" not in server.requests[0]
    assert f"created[gte]={now - 3600}" in server.requests[0]


def test_a_rate_limit_mid_read_commits_nothing_and_the_next_run_recovers(
    fake: Any, store: SqlCursorStore
) -> None:
    server, url = fake
    pays = Payments(server)
    for i in range(150):
        pays.add(T0 - 1000 + i, failed=i < 15)
    sleeps: list[float] = []
    options = FailureRateOptions(type="payment_failure_rate", min_volume=1)
    c = PaymentFailureRate("failures", api_for(url, sleeps, rate_limit_retries=1), store, options)
    c.collect(context(T0))  # backfill: 2 pages
    for i in range(250):
        pays.add(T0 + 1 + i)
    server.requests.clear()
    server.faults += [("ok", 0), ("429", 2), ("429", 2)]  # page 2 of 3 refused twice
    with pytest.raises(Exception, match="rate limited"):
        c.collect(context(T0 + 300))
    assert len(server.requests) == 3 and sleeps == [2]
    result = values(list(c.collect(context(T0 + 301))))
    assert result["stripe.payments_succeeded"] == 135 + 250
    assert result["stripe.payments_failed"] == 15
    assert result["stripe.requests"] == 3


def test_each_connect_account_has_its_own_cursor(fake: Any, store: SqlCursorStore) -> None:
    server, url = fake
    pi = {"id": "pi_1", "object": "payment_intent", "created": T0 - 30, "status": "succeeded"}
    for acct in ("acct_1Aa", "acct_2Bb"):  # each account's own events
        server.add("events", event(f"evt_{acct}", "payment_intent.succeeded", T0 - 30, pi),
                   account=acct)
    options = FailureRateOptions(type="payment_failure_rate", min_volume=1)
    api = api_for(url, accounts=("acct_1Aa", "acct_2Bb"))
    c = PaymentFailureRate("failures", api, store, options)
    ms = list(c.collect(context(T0)))
    rates = {m.tags: m.value for m in ms if m.name == "stripe.payments_succeeded"}
    assert rates == {("account:acct_1Aa",): 1, ("account:acct_2Bb",): 1}
    assert store.load("failures/acct_1Aa") is not None
    assert store.load("failures/acct_2Bb") is not None
    assert values(ms)["stripe.requests"] == 2
    assert server.accounts == ["acct_1Aa", "acct_2Bb"]
