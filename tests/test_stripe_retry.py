"""One retry policy for Stripe requests: ours, with stripe-python's retries off,
jittered, honouring Stripe-Should-Retry and Retry-After within the deadline."""

from __future__ import annotations

from typing import Any

from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.stripe.lists import PastDueOptions, SubscriptionsPastDue
from tests.peers.fake_stripe import api_for, context
from tests.stripe_fixtures import fake

__all__ = ["fake"]  # fixtures
T0 = 1_790_000_040


def run(api: Any) -> Any:
    check = SubscriptionsPastDue("past_due", api, PastDueOptions(type="subscriptions_past_due"))
    ctx = context(T0)
    return run_check(PlannedCheck(check, check.options), ctx.period, ctx.now, 20)


def test_a_429_stripe_says_to_retry_is_retried_by_one_policy_only(fake: Any) -> None:
    server, url = fake
    server.faults += [("429-retry", 0)] * 20
    result = run(api_for(url, [], max_network_retries=2, rate_limit_retries=2))
    assert result.status.label == "UNKNOWN"
    assert len(server.requests) == 3  # not 3 of ours x 3 of stripe-python's


def test_stripe_should_retry_false_is_not_retried(fake: Any) -> None:
    server, url = fake
    sleeps: list[float] = []
    server.faults += [("429-stop", 1)] * 3
    result = run(api_for(url, sleeps, rate_limit_retries=2))
    assert "Stripe-Should-Retry: false" in (result.error or "")
    assert len(server.requests) == 1 and sleeps == []


def test_stripe_should_retry_true_retries_a_lock_timeout(fake: Any) -> None:
    server, url = fake
    server.faults.append(("409-retry", 0))
    result = run(api_for(url, [], max_network_retries=1))
    assert result.status.label == "OK"
    assert len(server.requests) == 3  # 409, retried, then the second list


def test_back_offs_are_jittered_and_respect_retry_after() -> None:
    from billing_monitor.checks.stripe.retry import Failure, RetryPolicy

    draws = iter([0.0, 1.0, 0.5])
    policy = RetryPolicy(network_retries=3, base=1, max_backoff=8, rand=lambda: next(draws))
    attempts: dict[str, int] = {}
    waits = [policy.decide(Failure(503), attempts, 60).wait for _ in range(3)]
    assert waits == [0.5, 2.0, 3.0]  # half fixed, half random, doubling
    assert policy.decide(Failure(503), attempts, 60).reason == "after 4 attempt(s)"
    floor = RetryPolicy(rand=lambda: 0.0).decide(Failure(429, {"Retry-After": "3"}), {}, 60)
    assert floor.wait == 3
    late = RetryPolicy(rand=lambda: 0.0).decide(Failure(429, {"Retry-After": "3"}), {}, 2)
    assert late.wait is None and "deadline" in late.reason
    assert RetryPolicy().decide(Failure(400), {}, 60).wait is None
