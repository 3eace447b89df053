"""stripe_payment_freshness against the spec-validating Stripe peer (with its
30-day retention of events on): the age of the newest successful payment,
judged against limits by time of week, per Connect account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.contract import Status
from billing_monitor.checks.stripe.freshness import StripeFreshnessOptions, StripePaymentFreshness
from tests.peers.fake_stripe import api_for, context, event
from tests.stripe_fixtures import fake

__all__ = ["fake"]  # fixtures

# Thursday 2026-09-17 14:00 UTC, on the minute
T0 = int(datetime(2026, 9, 17, 14, 0, tzinfo=UTC).timestamp())
BUSINESS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00",
            "max_silence_minutes": 30}


def paid(server: Any, evt: str, type_: str, at: int, account: str | None = None) -> None:
    obj = {"id": f"x_{evt}", "object": "charge" if type_.startswith("charge") else
           "payment_intent", "currency": "usd", "amount": 100}
    server.add("events", event(evt, type_, at, obj), account=account)


def run(url: str, at: int, accounts: tuple[str, ...] = (), **options: Any) -> Any:
    opts = StripeFreshnessOptions(type="stripe_payment_freshness", **options)
    check = StripePaymentFreshness("fresh", api_for(url, accounts=accounts), opts)
    ctx = context(at)
    return run_check(PlannedCheck(check, opts), ctx.period, ctx.now, 20)


def gauges(result: Any) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(m.name, m.tags): m.value for m in result.measurements}


def test_a_recent_payment_is_fresh_and_one_request_is_made(fake: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    paid(server, "evt_old", "payment_intent.succeeded", T0 - 3600)
    paid(server, "evt_new", "charge.succeeded", T0 - 300)
    paid(server, "evt_failed", "payment_intent.payment_failed", T0 - 60)  # not a payment
    result = run(url, T0, hours=[BUSINESS])
    got = gauges(result)
    assert got[("payment_freshness.age_minutes", ())] == 5
    assert got[("payment_freshness.over_limit", ())] == round(5 / 30, 4)
    assert result.status is Status.OK
    assert server.requests == [
        "/v1/events?limit=1&types[0]=payment_intent.succeeded&types[1]=charge.succeeded"]
    assert not server.refused


def test_a_silence_past_the_business_hours_limit_is_critical(fake: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    paid(server, "evt_1", "payment_intent.succeeded", T0 - 45 * 60)
    result = run(url, T0, hours=[BUSINESS], max_silence_minutes=240)
    assert result.status is Status.CRIT
    over = next(m for m in result.measurements if m.name == "payment_freshness.over_limit")
    assert over.value == 1.5
    last = datetime.fromtimestamp(T0 - 2700, UTC).isoformat()
    assert over.samples == (f"last payment at {last}",)
    # At night the top-level limit applies: the same 45 minutes of 240 is fine.
    night = int(datetime(2026, 9, 17, 23, 0, tzinfo=UTC).timestamp())
    server.clock = lambda: night
    paid(server, "evt_2", "payment_intent.succeeded", night - 45 * 60)
    quiet = run(url, night, hours=[BUSINESS], max_silence_minutes=240)
    assert quiet.status is Status.OK
    assert gauges(quiet)[("payment_freshness.limit_minutes", ())] == 240


def test_nothing_in_stripes_30_days_is_a_capped_lower_bound_that_pages(fake: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    paid(server, "evt_ancient", "payment_intent.succeeded", T0 - 31 * 86400)
    result = run(url, T0, max_silence_minutes=60)
    got = gauges(result)
    assert got[("payment_freshness.age_minutes", ("capped:true",))] == 30 * 24 * 60
    assert result.status is Status.CRIT
    over = next(m for m in result.measurements if m.name == "payment_freshness.over_limit")
    assert over.samples == ("no successful payment in Stripe's 30 days of events",)


def test_each_connect_account_is_judged_on_its_own_payments(fake: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    paid(server, "evt_a", "payment_intent.succeeded", T0 - 120, account="acct_1Aa")
    paid(server, "evt_b", "payment_intent.succeeded", T0 - 7200, account="acct_2Bb")
    result = run(url, T0, accounts=("acct_1Aa", "acct_2Bb"), max_silence_minutes=60)
    got = gauges(result)
    assert got[("payment_freshness.over_limit", ("account:acct_1Aa",))] == round(2 / 60, 4)
    assert got[("payment_freshness.over_limit", ("account:acct_2Bb",))] == 2.0
    assert result.status is Status.CRIT
