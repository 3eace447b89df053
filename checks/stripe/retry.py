"""The one retry policy of the Stripe checks (stripe-python's own retries are
off: `max_network_retries=0` on the client, so no request is retried twice
over, and its back-off, which ignores Retry-After and our deadline, never runs).

A failed GET is retried when Stripe says so or when it is transient:
- `Stripe-Should-Retry: false` never is, `Stripe-Should-Retry: true` always is
  (Stripe's own word wins, as in stripe-python);
- otherwise a 429 (rate limited) up to `rate_limit_retries` times, and a 409,
  a 5xx or a network error/timeout up to `network_retries` times.
The wait is exponential with jitter (half fixed, half random: attempts of
several checks do not come back in step), never shorter than `Retry-After`.
A wait longer than `max_backoff` or past the check's deadline gives up at once:
the run is UNKNOWN and the next scheduled run tries again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Rand = Callable[[], float]  # uniform in [0, 1]


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = header(headers, "retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: not sent by Stripe; fall back to our back-off


@dataclass(frozen=True)
class Failure:
    """One failed attempt: the status (0: no response) and the response headers."""

    status: int
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Decision:
    wait: float | None  # seconds to wait before the next attempt; None: give up
    reason: str  # why we give up (for the error message), or ""


@dataclass
class RetryPolicy:
    network_retries: int = 2
    rate_limit_retries: int = 2
    base: float = 0.5
    max_backoff: float = 10.0
    rand: Rand = random.random

    def decide(self, failure: Failure, attempts: dict[str, int], time_left: float) -> Decision:
        """`attempts` counts the retries made so far per kind; updated on a retry."""
        should = header(failure.headers, "stripe-should-retry")
        if should == "false":
            return Decision(None, "Stripe-Should-Retry: false")
        kind = "rate_limit" if failure.status == 429 else "network"
        budget = self.rate_limit_retries if kind == "rate_limit" else self.network_retries
        transient = failure.status in (0, 409, 429) or failure.status >= 500
        if not transient and should != "true":
            return Decision(None, "not retryable")
        n = attempts.get(kind, 0)
        if n >= budget:
            return Decision(None, f"after {n + 1} attempt(s)")
        backoff = min(self.max_backoff, self.base * 2**n)
        wait = backoff / 2 + self.rand() * backoff / 2
        asked = retry_after(failure.headers)
        if asked is not None:
            if asked > self.max_backoff:
                return Decision(None, f"Retry-After {asked:g}s exceeds max_backoff_seconds")
            wait = max(wait, asked)
        if wait > time_left:
            return Decision(None, f"waiting {wait:g}s would pass the check's deadline")
        attempts[kind] = n + 1
        return Decision(wait, "")
