"""The delivery contracts, with their null objects beside them: a `Sink` that
delivers check results (DogStatsD, Prometheus, the alert engine), a
`Notification` read from the outbox, a `Notifier` that delivers it or raises
`SinkError`, and `Liveness` pings. The alert state machine (monitor/alerting)
decides; everything here only delivers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from billing_monitor.checks.contract import CheckResult

EventAction = Literal["trigger", "acknowledge", "resolve"]
Severity = Literal["critical", "error", "warning", "info"]
# Why the notification exists: chat posts differ by it; PagerDuty maps all but
# "resolve" to a trigger with the same dedup key (which updates the alert).
Reason = Literal["open", "escalate", "deescalate", "renotify", "resolve", "degraded", "test"]


@dataclass(frozen=True)
class Notification:
    """One message to deliver, as stored in the outbox. Holds no secret."""

    action: EventAction
    reason: Reason
    dedup_key: str
    check: str
    severity: Severity
    summary: str
    source: str
    occurred_at: datetime
    component: str | None = None
    group: str | None = None
    custom_details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (href, text)


class Notifier(Protocol):
    """Delivers one notification, or raises SinkError carrying
    `permanent` (do not retry) and, where the peer said so, `retry_after`."""

    name: str
    # The longest one `deliver` can take (timeouts times attempts, and the
    # sleeps between them): an outbox claim lasts twice that.
    max_seconds: float

    def deliver(self, notification: Notification) -> None: ...


class Liveness(Protocol):
    """Healthchecks.io-style pings. Never raises, never blocks for long."""

    def start(self, rid: str) -> None: ...

    def success(self, rid: str, body: str = "") -> None: ...

    def fail(self, rid: str, body: str = "") -> None: ...


class SinkError(Exception):
    """A sink could not deliver. `permanent` tells the caller not to retry;
    `retry_after` (seconds) is the peer's own request, e.g. a 429's Retry-After.
    The message must never hold a secret (routing key, webhook URL)."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Sink(Protocol):
    """A sink only delivers; it never decides. `emit` may raise SinkError."""

    name: str

    def emit(self, result: CheckResult) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """Stands in for a sink that is not configured."""

    def __init__(self, name: str) -> None:
        self.name = name

    def emit(self, result: CheckResult) -> None:
        return None

    def close(self) -> None:
        return None


PingKind = Literal["start", "success", "fail"]


class NullLiveness:
    """No liveness URL configured: pings go nowhere."""

    def ping(self, kind: PingKind, rid: str, body: str = "") -> bool:
        return False

    def start(self, rid: str) -> None:
        pass

    def success(self, rid: str, body: str = "") -> None:
        pass

    def fail(self, rid: str, body: str = "") -> None:
        pass

    def close(self) -> None:
        pass
