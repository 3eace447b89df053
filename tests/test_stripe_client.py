"""The Stripe client against a Stripe-shaped server: 429 back-off, 500, a
timeout, request counting, Connect accounts, and no key in any error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import Status
from billing_monitor.checks.errors import ConfigError
from billing_monitor.checks.stripe.client import StripeUnavailable, build_stripe_api
from billing_monitor.checks.stripe.config import StripeSection
from billing_monitor.checks.stripe.lists import PastDueOptions, SubscriptionsPastDue
from tests.peers.fake_stripe import KEY, FakeStripe, api_for, context, fake_stripe

T0 = 1_790_000_040


@pytest.fixture
def fake() -> Iterator[tuple[FakeStripe, str]]:
    with fake_stripe() as f:
        for i in range(3):
            f[0].add("subscriptions", {"id": f"sub_{i}", "object": "subscription",
                                       "created": T0 - 100 + i, "status": "past_due"})
        yield f


def past_due(api: Any) -> SubscriptionsPastDue:
    return SubscriptionsPastDue("past_due", api, PastDueOptions(type="subscriptions_past_due"))


def run(check: Any) -> Any:
    opts = CheckOptions(type="subscriptions_past_due", timeout_seconds=30)
    ctx = context(T0)
    return run_check(PlannedCheck(check, opts), ctx.period, ctx.now, 20)


def test_429_backs_off_with_retry_after_then_succeeds(fake: Any) -> None:
    server, url = fake
    sleeps: list[float] = []
    api = api_for(url, sleeps, rate_limit_retries=2, max_backoff_seconds=10)
    server.faults += [("429", 7), ("429", 0)]
    result = past_due(api).collect(context(T0))
    # Retry-After is a floor; without it, exponential back-off (jitter at its maximum here).
    assert sleeps == [7, 1.0]
    by_name = {(m.name, m.tags): m.value for m in result}
    assert by_name[("stripe.subscriptions_past_due", ("status:past_due",))] == 3
    assert by_name[("stripe.requests", ())] == 4  # two refused, then two lists
    assert api.counter.total == 4


def test_a_retry_after_longer_than_the_back_off_cap_gives_up_rather_than_come_early(
    fake: Any,
) -> None:
    server, url = fake
    sleeps: list[float] = []
    server.faults.append(("429", 30))
    result = run(past_due(api_for(url, sleeps, max_backoff_seconds=10)))
    assert result.status is Status.UNKNOWN
    assert "Retry-After 30s exceeds max_backoff_seconds" in (result.error or "")
    assert sleeps == [] and len(server.requests) == 1


def test_persistent_429_is_unknown_and_bounded(fake: Any) -> None:
    server, url = fake
    sleeps: list[float] = []
    server.faults += [("429", 1)] * 10
    result = run(past_due(api_for(url, sleeps, rate_limit_retries=2)))
    assert result.status is Status.UNKNOWN
    assert "rate limited (429) after 3 attempt(s)" in (result.error or "")
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert KEY not in (result.error or "")


def test_a_back_off_past_the_check_deadline_gives_up_at_once(fake: Any) -> None:
    server, url = fake
    sleeps: list[float] = []
    server.faults.append(("429", 8))
    ctx = context(T0)
    ctx = type(ctx)(ctx.period, ctx.now, deadline=time.monotonic() + 5)
    with pytest.raises(StripeUnavailable, match="would pass the check's deadline"):
        past_due(api_for(url, sleeps, max_backoff_seconds=10)).collect(ctx)
    assert sleeps == [] and len(server.requests) == 1


def test_a_500_is_retried_once_by_our_policy_then_succeeds(fake: Any) -> None:
    server, url = fake
    sleeps: list[float] = []
    api = api_for(url, sleeps, max_network_retries=1)
    server.faults.append(("500", 0))
    result = past_due(api).collect(context(T0))
    assert {m.name: m.value for m in result}["stripe.requests"] == 3  # 500, retry, unpaid
    assert sleeps == [0.5]


def test_a_persistent_500_is_unknown(fake: Any) -> None:
    server, url = fake
    server.faults += [("500", 0)] * 3
    result = run(past_due(api_for(url, max_network_retries=0)))
    assert result.status is Status.UNKNOWN
    assert "HTTP 500" in (result.error or "")


def test_a_timeout_is_unknown(fake: Any) -> None:
    server, url = fake
    server.faults.append(("delay", 10))
    result = run(past_due(api_for(url, max_network_retries=0, timeout=0.3)))
    assert result.status is Status.UNKNOWN
    assert "network error or timeout" in (result.error or "")


def test_each_connect_account_is_read_and_tagged(fake: Any) -> None:
    server, url = fake
    api = api_for(url, accounts=("acct_1Aa", "acct_2Bb"))
    result = past_due(api).collect(context(T0))
    assert server.accounts == ["acct_1Aa", "acct_1Aa", "acct_2Bb", "acct_2Bb"]
    tagged = [m.tags for m in result if m.name == "stripe.subscriptions_past_due"]
    assert tagged == [
        ("account:acct_1Aa", "status:past_due"), ("account:acct_1Aa", "status:unpaid"),
        ("account:acct_2Bb", "status:past_due"), ("account:acct_2Bb", "status:unpaid"),
    ]


def test_a_refused_key_is_permanent_and_not_echoed(fake: Any) -> None:
    server, url = fake
    server.faults.append(("401", 0))  # the body quotes the key back, as Stripe once did
    with pytest.raises(StripeUnavailable) as err:
        api_for(url).get("/v1/subscriptions", {}, None)
    assert not err.value.transient
    assert "401" in str(err.value)
    assert KEY not in str(err.value)


def test_the_key_comes_from_the_environment_only() -> None:
    with pytest.raises(ConfigError) as err:
        build_stripe_api(StripeSection(), {})
    assert "STRIPE_API_KEY" in str(err.value)
    with pytest.raises(ValueError, match="not a Stripe account id"):
        StripeSection(accounts=("acct_1", "bogus"))
