"""PagerDuty Events API v2 through the `pagerduty` package's EventsApiV2Client
(the maintained successor of the deprecated `pdpyras`).

A trigger with a dedup key PagerDuty already has open updates that alert (new
severity, summary, details); resolve closes it. The client's own retries are
bounded here (by default it retries 429 forever and sleeps for seconds): the
outbox owns long-term retry. The routing key travels in the request body only
and is scrubbed from anything we raise."""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

import pagerduty

from billing_monitor.alerts.contract import Notification, SinkError
from billing_monitor.alerts.webhook import BODY_LIMIT, retry_after, scrub

SUMMARY_LIMIT = 1024  # PagerDuty truncates longer summaries; we do it visibly
RETRIED_STATUSES = (429, 500, 502, 503, 504)


class HideRetryExhaustion(logging.Filter):
    """When the client hands back a 429 or a 5xx after the attempts we allow,
    it logs "Non-transient HTTP error: exceeded maximum number of attempts
    (0)" at ERROR: wrong on both counts (the status is transient, the count is
    not the attempts made), and a page to nobody at 3 AM. The outbox retries,
    and the dispatcher logs that attempt with the real status."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("%s: Non-transient HTTP error")


_client_log = logging.getLogger("pagerduty.api_client")
if not any(isinstance(f, HideRetryExhaustion) for f in _client_log.filters):
    _client_log.addFilter(HideRetryExhaustion())


def truncate(text: str, limit: int = SUMMARY_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_payload(n: Notification, source: str | None = None, component: str | None = None,
                  group: str | None = None) -> dict[str, Any]:
    """The `payload` of a trigger. What [pagerduty] sets explicitly (source,
    component, group) wins over the notification's automatic values. `class`
    is the check, so PagerDuty can group and filter by it."""
    payload: dict[str, Any] = {
        "summary": truncate(n.summary),
        "source": source or n.source,
        "severity": n.severity,
        "timestamp": n.occurred_at.isoformat(),
        "class": n.check,
        "custom_details": dict(n.custom_details),
    }
    for key, value in (("component", component or n.component), ("group", group or n.group)):
        if value:
            payload[key] = value
    return payload


def event_links(n: Notification, dashboard_url: str | None) -> list[dict[str, str]]:
    links = [{"href": href, "text": text} for href, text in n.links]
    if dashboard_url and all(link["href"] != dashboard_url for link in links):
        links.append({"href": dashboard_url, "text": "Dashboard"})
    return links


class PagerDutyNotifier:
    name = "pagerduty"

    def __init__(self, routing_key: str, *, events_url: str = "https://events.pagerduty.com",
                 source: str | None = None, component: str | None = None,
                 group: str | None = None, dashboard_url: str | None = None,
                 timeout: float = 10.0, max_attempts: int = 2, backoff_seconds: float = 1.0,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._key = routing_key
        self._defaults = {"source": source, "component": component, "group": group}
        self._dashboard = dashboard_url
        client = pagerduty.EventsApiV2Client(routing_key, base_url=events_url, verify=verify)
        retries = max_attempts - 1
        self._attempts = max_attempts
        client.timeout = timeout  # type: ignore[assignment]  # an int class default; httpx takes floats
        client.max_network_attempts = retries
        # A status in `retry` is retried that many times, then returned; 0 there
        # would mean the default (429: forever), hence at least 1, and the total
        # cap below (-1 when retries == 0) stops before any retry happens.
        client.max_http_attempts = retries - 1
        client.retry.update({status: max(retries, 1) for status in RETRIED_STATUSES})
        client.sleep_timer = backoff_seconds / client.sleep_timer_base
        client.stagger_cooldown = 1.0  # jitter: sleeps grow by a random 2x-4x
        self._client = client
        # Each attempt's timeout, plus the jittered sleeps between attempts (at
        # most 4x the backoff, doubling).
        self.max_seconds = timeout * max_attempts + sum(
            4 * backoff_seconds * 2**i for i in range(max_attempts - 1))

    def deliver(self, notification: Notification) -> None:
        n = notification
        try:
            if n.action == "trigger":
                extra: dict[str, Any] = {"payload": event_payload(n, **self._defaults)}
                links = event_links(n, self._dashboard)
                if links:
                    extra["links"] = links
                self._client.send_event("trigger", dedup_key=n.dedup_key, **extra)
            elif n.action == "resolve":
                self._client.resolve(n.dedup_key)
            else:
                self._client.acknowledge(n.dedup_key)
        except pagerduty.HttpError as exc:
            raise self._status_error(exc) from None
        except pagerduty.Error as exc:  # network: refused, timeout, TLS, after the retries
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "network error"
            raise SinkError(f"PagerDuty: events API unreachable ({cause}, {self._attempts} "
                            "attempt(s))") from None
        except (pagerduty.UrlError, ValueError, TypeError) as exc:
            raise SinkError(f"PagerDuty: cannot send: {self._scrub(str(exc))}",
                            permanent=True) from None

    def _scrub(self, text: str) -> str:
        return scrub(text, [self._key])

    def _status_error(self, exc: pagerduty.HttpError) -> SinkError:
        response = exc.response
        if response is None:  # not raised by the library; be safe anyway
            return SinkError("PagerDuty: no response")
        status = response.status_code
        if response.is_success:  # 2xx without the documented {"dedup_key": ...}
            shown = self._scrub(response.text.strip()[:80])
            return SinkError(f"PagerDuty: malformed answer (HTTP {status}: {shown!r})")
        detail = self._scrub(_describe(response.text))
        message = f"PagerDuty: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            return SinkError(message, retry_after=retry_after(response.headers))
        if status == 408 or status >= 500:
            return SinkError(message)
        # 400 invalid event, 401/403/404 wrong key or URL, 3xx wrong events_url
        return SinkError(message, permanent=True)

    def close(self) -> None:
        self._client.close()


def _describe(body: str) -> str:
    """PagerDuty's error body: {"status", "message", "errors": [...]}."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:BODY_LIMIT]
    if not isinstance(data, dict):
        return body.strip()[:BODY_LIMIT]
    errors = data.get("errors") or []
    parts = [str(data.get("message") or data.get("status") or "")]
    parts += [str(e) for e in errors] if isinstance(errors, list) else [str(errors)]
    return "; ".join(p for p in parts if p)[:BODY_LIMIT]
