"""One Stripe client for all Stripe checks: stripe-python's `StripeClient` over
its HTTPX transport, with every HTTP request counted, and one retry policy,
ours (checks/stripe/retry.py): stripe-python's own retries are switched off,
since it ignores Retry-After and cannot see the check's deadline, and two
policies stacked would multiply the attempts. The API key never leaves this
module: it is not in any message we build, and Stripe's own messages are not
copied.

stripe-python is imported when a Stripe client is built or used, not with
this module: the settings import every check type, and a monitor without a
Stripe check would otherwise pay its import (about 0.2 s of CPU and 20 MiB;
docs/benchmarks.md section 8) in every command and in the daemon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from billing_monitor.checks.errors import ConfigError
from billing_monitor.checks.sources import mark_unreachable
from billing_monitor.checks.stripe.config import API_KEY_ENV, StripeSection
from billing_monitor.checks.stripe.retry import Failure, Rand, RetryPolicy

if TYPE_CHECKING:
    import stripe


class StripeUnavailable(Exception):
    """Stripe could not answer. `transient` means the next run may succeed;
    `param` is the request parameter a 400 names (Stripe's `error.param`)."""

    def __init__(
        self, message: str, *, transient: bool = True, status: int = 0, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status  # the HTTP status, 0 when there was no response
        self.param = param


class RequestCounter:
    """Counts HTTP requests: in total, and per scope on the current thread (the
    runner runs each check's collect in its own thread)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.total = 0

    def hit(self) -> None:
        with self._lock:
            self.total += 1
        self._local.count = getattr(self._local, "count", 0) + 1

    @contextmanager
    def scope(self) -> Iterator[Callable[[], int]]:
        """Yields a function returning the requests made on this thread since entry."""
        start = getattr(self._local, "count", 0)
        yield lambda: getattr(self._local, "count", 0) - start


@cache
def _counting_client_class() -> Callable[[RequestCounter, float], stripe.HTTPXClient]:
    import stripe

    class CountingHTTPXClient(stripe.HTTPXClient):
        """stripe-python's retry loop calls `request` once per attempt, so a
        retried request counts every time it goes out."""

        def __init__(self, counter: RequestCounter, timeout: float) -> None:
            super().__init__(timeout=timeout, allow_sync_methods=True)
            self.counter = counter

        def request(  # type: ignore[override]  # HTTPXClient narrows the base signature too
            self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
        ) -> tuple[bytes, int, Mapping[str, str]]:
            self.counter.hit()
            return super().request(method, url, headers, post_data)

    return CountingHTTPXClient


def counting_http_client(counter: RequestCounter, timeout: float) -> stripe.HTTPXClient:
    """stripe-python's HTTPX transport, every request counted."""
    return _counting_client_class()(counter, timeout)


Sleep = Callable[[float], None]


class StripeApi:
    """GETs against Stripe returning plain dicts (the API reference's shapes)."""

    def __init__(
        self,
        client: stripe.StripeClient,
        counter: RequestCounter,
        *,
        policy: RetryPolicy | None = None,
        accounts: tuple[str, ...] = (),
        sleep: Sleep = time.sleep,
        http: stripe.HTTPClient | None = None,
    ) -> None:
        self.client = client
        self._http = http
        self.counter = counter
        self.connected: tuple[str, ...] = accounts
        self.accounts: tuple[str | None, ...] = accounts or (None,)
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._local = threading.local()

    @contextmanager
    def deadline(self, at: float) -> Iterator[None]:
        """Back-offs on this thread that would end after `at` (monotonic) give up now."""
        self._local.deadline = at
        try:
            yield
        finally:
            self._local.deadline = None

    def get(self, path: str, params: Mapping[str, Any], account: str | None) -> dict[str, Any]:
        import stripe

        opts: dict[str, Any] = {"stripe_account": account} if account else {}
        attempts: dict[str, int] = {}
        while True:
            try:
                data = self.client.raw_request("get", path, **params, **opts).data
                if not isinstance(data, dict):
                    raise StripeUnavailable(f"Stripe GET {path}: not a JSON object")
                return data
            except stripe.StripeError as err:
                failure = _failure(err)
                deadline = getattr(self._local, "deadline", None)
                left = float("inf") if deadline is None else deadline - time.monotonic()
                decision = self.policy.decide(failure, attempts, left)
                if decision.wait is None:
                    raise _unavailable(path, err, decision.reason) from None
                self._sleep(decision.wait)

    def pages(
        self, path: str, params: Mapping[str, Any], account: str | None, *, max_pages: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Newest-first pages via `starting_after`, at most `max_pages` requests."""
        query = {"limit": 100, **params}
        for _ in range(max_pages):
            page = self.get(path, query, account)
            data: list[dict[str, Any]] = page.get("data", [])
            yield data
            if not page.get("has_more") or not data:
                return
            query = {**query, "starting_after": data[-1]["id"]}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()  # type: ignore[no-untyped-call]


def _failure(err: stripe.StripeError) -> Failure:
    import stripe

    if isinstance(err, stripe.APIConnectionError):
        return Failure(0 if err.should_retry else 400)  # should_retry: timeouts, resets
    return Failure(err.http_status or 0, err.headers)


def _unavailable(path: str, err: stripe.StripeError, reason: str) -> StripeUnavailable:
    """Our own words for what happened, never Stripe's message (it may quote the key)."""
    import stripe

    at = f"Stripe GET {path}"
    tail = f" {reason}" if reason.startswith("after") else f"; {reason}"
    tail = "" if reason == "not retryable" else tail
    status = err.http_status or 0
    if isinstance(err, stripe.AuthenticationError):
        return StripeUnavailable(f"{at}: the API key was refused (401)", transient=False,
                                 status=401)
    if isinstance(err, stripe.PermissionError):
        return StripeUnavailable(f"{at}: the restricted key lacks read permission (403)",
                                 transient=False, status=403)
    if isinstance(err, stripe.APIConnectionError):
        down = StripeUnavailable(f"{at}: network error or timeout{tail}")
        mark_unreachable(down, "stripe")
        return down
    if status == 429:
        return StripeUnavailable(f"{at}: rate limited (429){tail}", status=429)
    code = f" {err.code}" if err.code else ""
    param = getattr(err, "param", None)
    named = f" (param {param})" if param else ""
    out = StripeUnavailable(f"{at}: HTTP {status}{code}{named}{tail}",
                            transient=status >= 500 or status in (409, 429), status=status,
                            param=param)
    if status >= 500:  # Stripe itself failing, after the retries
        mark_unreachable(out, "stripe")
    return out


def build_stripe_api(
    section: StripeSection, env: Mapping[str, str], sleep: Sleep = time.sleep,
    rand: Rand | None = None,
) -> StripeApi:
    key = env.get(API_KEY_ENV, "")
    if not key:
        raise ConfigError(
            [f"environment: {API_KEY_ENV}: required by the Stripe checks (a restricted read-only "
             "key, see README 'Stripe checks')"]
        )
    import stripe

    counter = RequestCounter()
    http = counting_http_client(counter, section.timeout)
    client = stripe.StripeClient(
        key,
        http_client=http,
        base_addresses={"api": section.api_base},
        max_network_retries=0,  # ours is the only retry policy (checks/stripe/retry.py)
    )
    policy = RetryPolicy(section.max_network_retries, section.rate_limit_retries,
                         max_backoff=section.max_backoff_seconds)
    if rand is not None:
        policy.rand = rand
    return StripeApi(
        client,
        counter,
        policy=policy,
        accounts=section.accounts,
        sleep=sleep,
        http=http,
    )
