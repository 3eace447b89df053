"""One HTTP POST to a chat webhook, its outcome mapped onto SinkError.

Webhook URLs are credentials (the path or the query holds the token), so no
message built here contains the URL: httpx puts it in some exception texts,
hence `scrub` on everything taken from an exception or a response body."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

from billing_monitor.alerts.contract import SinkError

REDACTED = "<redacted>"
BODY_LIMIT = 200


def _fragments(secret: str) -> set[str]:
    """The secret itself plus the parts of a URL that carry the credential
    (path, query), raw and percent-decoded, as they may appear in a message."""
    out = {secret, unquote(secret), quote(secret, safe=":/?&=")}
    if "://" in secret:
        parts = urlsplit(secret)
        values = [value for _, value in parse_qsl(parts.query)]
        for part in (parts.path, parts.query, *values):
            if len(part) >= 8:  # "/" or "" would scrub everything
                out |= {part, unquote(part), quote(part, safe="")}
    return {s for s in out if s}


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        for fragment in sorted(_fragments(secret), key=len, reverse=True):
            text = text.replace(fragment, REDACTED)
    return text


def add_query(url: str, name: str, value: str) -> str:
    """Add a parameter to the URL's own query; httpx's `params=` would replace
    the query, and with it a key, a token or Healthchecks' `create=1`."""
    return f"{url}{'&' if '?' in url else '?'}{name}={quote(value, safe='')}"


class HideRequestUrls(logging.Filter):
    """httpx logs "HTTP Request: POST <full URL> ..." at INFO: with a webhook or
    ping URL that is a credential. Keep the line, show only scheme, host, port."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], httpx.URL):
            url = args[1]
            port = f":{url.port}" if url.port else ""
            record.args = (args[0], f"{url.scheme}://{url.host}{port}/{REDACTED}", *args[2:])
        return True


def hide_request_urls(logger_name: str = "httpx") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, HideRequestUrls) for f in logger.filters):
        logger.addFilter(HideRequestUrls())


hide_request_urls()  # on import: every module that posts to a secret URL imports this one


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None if absent or bad."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def status_error(service: str, status: int, headers: Mapping[str, str], body: str,
                 secrets: Iterable[str]) -> SinkError:
    """429 asks us to wait; 408 and 5xx are the peer's trouble (retry); any other
    4xx or 3xx means our request or our URL is wrong, and retrying cannot help."""
    detail = scrub(body.strip()[:BODY_LIMIT], secrets)
    message = f"{service}: HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        return SinkError(message, retry_after=retry_after(headers))
    if status == 408 or status >= 500:
        return SinkError(message)
    return SinkError(message, permanent=True)


class WebhookPoster:
    """POSTs JSON to one secret URL with a bounded timeout and no retries."""

    def __init__(self, service: str, url: str, *, timeout: float,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.service = service
        self._url = url
        self._timeout = timeout
        self._client = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)
        # httpx applies `timeout` to connecting, writing and reading each.
        self.max_seconds = 3 * timeout

    def post(self, body: Any) -> httpx.Response:
        try:
            response = self._client.post(self._url, json=body)
        except httpx.TimeoutException:
            raise SinkError(f"{self.service}: no answer within {self._timeout:g}s") from None
        except httpx.HTTPError as exc:  # refused, DNS, TLS, protocol errors
            detail = scrub(str(exc), [self._url]) or type(exc).__name__
            raise SinkError(f"{self.service}: {type(exc).__name__}: {detail}") from None
        if not response.is_success:
            raise status_error(self.service, response.status_code, response.headers,
                               response.text, [self._url])
        return response

    def malformed(self, response: httpx.Response, expected: str) -> SinkError:
        """A 2xx whose body is not what the service documents: the message may or
        may not have been posted; retrying (at least once) beats losing it."""
        shown = scrub(response.text.strip()[:80], [self._url])
        return SinkError(f"{self.service}: malformed answer (expected {expected}, got {shown!r})")

    def close(self) -> None:
        self._client.close()
