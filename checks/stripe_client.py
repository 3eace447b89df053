"""One Stripe client for all Stripe checks: stripe-python's `StripeClient` over
its HTTPX transport, with every HTTP request counted and 429s backed off.

stripe-python retries 5xx and network errors itself (`max_network_retries`,
set explicitly: its default is none) but retries a 429 only when Stripe sends
`Stripe-Should-Retry: true`, and ignores Retry-After. So rate limits are ours:
a bounded number of back-offs honouring Retry-After, then `StripeUnavailable`,
which the runner turns into UNKNOWN. The API key never leaves this module: it
is not in any message we build, and Stripe's own messages are not copied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import stripe

from checks.stripe_config import API_KEY_ENV, StripeSection
from monitor.errors import ConfigError


class StripeUnavailable(Exception):
    """Stripe could not answer. `transient` means the next run may succeed."""

    def __init__(self, message: str, *, transient: bool = True, status: int = 0) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status  # the HTTP status, 0 when there was no response


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


class CountingHTTPXClient(stripe.HTTPXClient):
    """stripe-python's retry loop calls `request` once per attempt, so a retried
    request counts every time it goes out."""

    def __init__(self, counter: RequestCounter, timeout: float) -> None:
        super().__init__(timeout=timeout, allow_sync_methods=True)
        self.counter = counter

    def request(  # type: ignore[override]  # HTTPXClient narrows the base signature too
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        self.counter.hit()
        return super().request(method, url, headers, post_data)


Sleep = Callable[[float], None]


def _retry_after(err: stripe.RateLimitError) -> float | None:
    headers = err.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class StripeApi:
    """GETs against Stripe returning plain dicts (the API reference's shapes)."""

    def __init__(
        self,
        client: stripe.StripeClient,
        counter: RequestCounter,
        *,
        rate_limit_retries: int = 2,
        max_backoff_seconds: float = 10.0,
        accounts: tuple[str, ...] = (),
        sleep: Sleep = time.sleep,
        http: stripe.HTTPClient | None = None,
    ) -> None:
        self.client = client
        self._http = http
        self.counter = counter
        self.accounts: tuple[str | None, ...] = accounts or (None,)
        self._retries = rate_limit_retries
        self._max_backoff = max_backoff_seconds
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
        opts: dict[str, Any] = {"stripe_account": account} if account else {}
        attempt = 0
        while True:
            try:
                resp = self.client.raw_request("get", path, **params, **opts)
                data = resp.data
                if not isinstance(data, dict):
                    raise StripeUnavailable(f"Stripe GET {path}: not a JSON object")
                return data
            except stripe.RateLimitError as err:
                if attempt >= self._retries:
                    raise StripeUnavailable(
                        f"Stripe GET {path}: rate limited (429) after {attempt + 1} attempt(s)"
                    ) from None
                attempt += 1
                wait = min(_retry_after(err) or 0.5 * 2**attempt, self._max_backoff)
                deadline = getattr(self._local, "deadline", None)
                if deadline is not None and time.monotonic() + wait > deadline:
                    raise StripeUnavailable(
                        f"Stripe GET {path}: rate limited (429); waiting {wait:g}s would pass "
                        "the check's deadline"
                    ) from None
                self._sleep(wait)
            except stripe.AuthenticationError:
                raise StripeUnavailable(
                    f"Stripe GET {path}: the API key was refused (401)", transient=False
                ) from None
            except stripe.PermissionError:
                raise StripeUnavailable(
                    f"Stripe GET {path}: the restricted key lacks read permission (403)",
                    transient=False,
                ) from None
            except stripe.APIConnectionError:
                raise StripeUnavailable(f"Stripe GET {path}: network error or timeout") from None
            except stripe.StripeError as err:
                code = f" {err.code}" if err.code else ""
                raise StripeUnavailable(
                    f"Stripe GET {path}: HTTP {err.http_status}{code}",
                    transient=(err.http_status or 500) >= 500,
                    status=err.http_status or 0,
                ) from None

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


def build_stripe_api(
    section: StripeSection, env: Mapping[str, str], sleep: Sleep = time.sleep
) -> StripeApi:
    key = env.get(API_KEY_ENV, "")
    if not key:
        raise ConfigError(
            [f"environment: {API_KEY_ENV}: required by the Stripe checks (a restricted read-only "
             "key, see README 'Stripe checks')"]
        )
    counter = RequestCounter()
    http = CountingHTTPXClient(counter, section.timeout)
    client = stripe.StripeClient(
        key,
        http_client=http,
        base_addresses={"api": section.api_base},
        max_network_retries=section.max_network_retries,
    )
    return StripeApi(
        client,
        counter,
        rate_limit_retries=section.rate_limit_retries,
        max_backoff_seconds=section.max_backoff_seconds,
        accounts=section.accounts,
        sleep=sleep,
        http=http,
    )
