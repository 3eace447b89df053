"""A generic webhook for on-call tools we do not ship (Opsgenie's successor,
an internal bus, ...): a documented, versioned JSON body, signed.

POST <url>, Content-Type: application/json, with the headers
  Billing-Monitor-Event-Id:  the event's id (stable across retries: dedupe on it)
  Billing-Monitor-Timestamp: Unix seconds when this attempt was signed
  Billing-Monitor-Signature: v1=<hex HMAC-SHA256(key, "<timestamp>.<raw body>")>
and the body (version "1"; fields are only ever added within a version):
  {"version": "1", "id": "...", "action": "trigger" | "resolve",
   "reason": "open" | "escalate" | "deescalate" | "renotify" | "resolve" | "degraded" | "test",
   "dedup_key": "...", "check": "...", "severity": "critical" | "error" | "warning" | "info",
   "summary": "...", "source": "...", "group": "...", "component": "...",
   "occurred_at": "<ISO 8601, UTC>", "details": {...}, "links": [{"href", "text"}]}

A receiver verifies the signature over the raw bytes with a constant-time
comparison and refuses a timestamp more than 5 minutes from its clock (a
replay). It answers 2xx with an empty or JSON body; a 2xx with anything else
(a proxy's or captive portal's HTML page) is retried, as are 408, 429 (with
Retry-After) and 5xx; any other status is permanent. Delivery is at least
once: the id lets the receiver drop a repeat."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from billing_monitor.alerts.contract import Notification, SinkError
from billing_monitor.alerts.webhook import scrub, status_error

VERSION = "1"
SIGNATURE = "Billing-Monitor-Signature"
TIMESTAMP = "Billing-Monitor-Timestamp"
EVENT_ID = "Billing-Monitor-Event-Id"
MAX_BYTES = 256_000  # our own cap: details are already bounded upstream


def event_id(n: Notification) -> str:
    seed = "\x1f".join((n.dedup_key, n.action, n.reason, n.occurred_at.isoformat()))
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def body(n: Notification) -> dict[str, Any]:
    return {
        "version": VERSION, "id": event_id(n), "action": n.action, "reason": n.reason,
        "dedup_key": n.dedup_key, "check": n.check, "severity": n.severity,
        "summary": n.summary, "source": n.source, "group": n.group,
        "component": n.component, "occurred_at": n.occurred_at.astimezone(UTC).isoformat(),
        "details": dict(n.custom_details),
        "links": [{"href": href, "text": text} for href, text in n.links],
    }


def sign(key: str, timestamp: int, raw: bytes) -> str:
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(key: str, timestamp: str, raw: bytes, signature: str, now: float,
           tolerance: float = 300.0) -> bool:
    """What a receiver does (and the test peer does): constant-time compare,
    then refuse a stale or future timestamp."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(key, int(timestamp), raw), signature)


class SignedWebhookNotifier:
    name = "webhook"

    def __init__(self, url: str, key: str, *, timeout: float,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 verify: ssl.SSLContext | bool = True, name: str = "webhook") -> None:
        self.name = name
        self._url, self._key, self._timeout, self._clock = url, key, timeout, clock
        self._client = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)
        self.max_seconds = 3 * timeout

    def deliver(self, notification: Notification) -> None:
        data = body(notification)
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        if len(raw) > MAX_BYTES:
            data["details"] = {"omitted": f"details over {MAX_BYTES} bytes"}
            raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        stamp = int(self._clock().timestamp())
        headers = {"Content-Type": "application/json", EVENT_ID: data["id"],
                   TIMESTAMP: str(stamp), SIGNATURE: sign(self._key, stamp, raw)}
        secrets = [self._key, self._url]
        try:
            response = self._client.post(self._url, content=raw, headers=headers)
        except httpx.TimeoutException:
            raise SinkError(f"webhook: no answer within {self._timeout:g}s") from None
        except httpx.HTTPError as exc:
            detail = scrub(str(exc), secrets) or type(exc).__name__
            raise SinkError(f"webhook: {type(exc).__name__}: {detail}") from None
        if not response.is_success:
            raise status_error("webhook", response.status_code, response.headers,
                               response.text, secrets)
        text = response.text.strip()
        if text:
            try:
                json.loads(text)
            except ValueError:
                shown = scrub(text[:80], secrets)
                raise SinkError("webhook: malformed answer (expected an empty or JSON "
                                f"body, got {shown!r})") from None

    def close(self) -> None:
        self._client.close()
