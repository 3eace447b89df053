"""The contracts between the alert state machine (which decides) and the
notifiers (which only deliver): a `Notification` read from the outbox, a
`Notifier` that delivers it or raises `SinkError`, and `Liveness` pings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

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
    """Delivers one notification, or raises monitor.types.SinkError carrying
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
