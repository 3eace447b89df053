"""The outbox dispatcher: delivers due rows through their notifier, in order
per (channel, dedup key), with exponential backoff and jitter. A row that
stays undeliverable past `max_attempts` or `max_age` (or fails permanently)
is marked dead, logged at ERROR and counted; it is never dropped silently.

Delivery is at least once: a crash after the peer accepted and before the row
is marked delivered sends it again, which PagerDuty absorbs by dedup key.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from alerts.base import Notifier
from alerts.statsd import NullSink
from monitor import outbox
from monitor.runner import Clock, describe_error, utc_now
from monitor.types import Sink, SinkError

log = logging.getLogger("billing_monitor.dispatcher")


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: base * 2**(n-1), capped, times a jitter in
    [0.5, 1) so that many rows failing together do not retry together."""

    base_seconds: float = 30.0
    max_seconds: float = 1800.0
    max_attempts: int = 20
    max_age: timedelta = timedelta(hours=24)
    lease_seconds: float = 120.0
    keep: timedelta = timedelta(days=7)  # delivered and dead rows, then pruned

    def delay(self, attempts: int, rand: float, retry_after: float | None = None) -> float:
        expo = min(self.max_seconds, self.base_seconds * 2.0 ** max(attempts - 1, 0))
        wait = expo * (0.5 + rand / 2)
        return max(wait, min(retry_after or 0.0, self.max_seconds))


@dataclass
class DispatchReport:
    delivered: int = 0
    failed: int = 0  # attempts that failed and will be retried
    dead: int = 0
    skipped: int = 0  # not due, or waiting behind an earlier row of the same key
    pruned: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        notifiers: Mapping[str, Notifier],
        *,
        backoff: Backoff = Backoff(),
        clock: Clock = utc_now,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._engine = engine
        self.notifiers = notifiers
        self._backoff = backoff
        self._clock = clock
        self._rand = rand

    def dispatch(self, deadline: Callable[[], bool] = lambda: False) -> DispatchReport:
        """One pass over the outbox; stops early once `deadline()` is true."""
        report = DispatchReport()
        with self._engine.connect() as conn:
            rows = outbox.pending(conn)
        blocked: set[tuple[str, str]] = set()
        for row in rows:
            lane = (row.channel, row.dedup_key)
            now = self._clock()
            # A channel this process has no notifier for (e.g. a manual run
            # without its secret) is left to a process that has one, until max_age.
            fresh = now - row.created_at < self._backoff.max_age
            absent = row.channel not in self.notifiers and fresh
            if lane in blocked or absent or row.next_attempt_at > now or deadline():
                blocked.add(lane)  # keep trigger -> resolve order per key and channel
                report.skipped += 1
                continue
            if not self._attempt(row, now, report):
                blocked.add(lane)
        with self._engine.begin() as conn:
            report.pruned = outbox.prune(conn, self._clock() - self._backoff.keep)
        return report

    def _attempt(self, row: outbox.Row, now: datetime, report: DispatchReport) -> bool:
        """True when the lane may go on (delivered or dead)."""
        b = self._backoff
        with self._engine.begin() as conn:
            if not outbox.claim(conn, row, now + timedelta(seconds=b.lease_seconds)):
                return False
        attempts = row.attempts + 1
        notifier = self.notifiers.get(row.channel)
        try:
            if notifier is None:
                raise SinkError(f"no notifier named {row.channel!r} is configured")
            notifier.deliver(outbox.from_payload(row.payload))
        except Exception as exc:
            error = describe_error(exc)
            permanent = isinstance(exc, SinkError) and exc.permanent
            retry_after = exc.retry_after if isinstance(exc, SinkError) else None
            now = self._clock()
            too_old = now - row.created_at >= b.max_age
            if permanent or attempts >= b.max_attempts or too_old:
                why = "permanent error" if permanent else (
                    "too old" if too_old else f"{attempts} attempts")
                with self._engine.begin() as conn:
                    outbox.dead(conn, row.id, error)
                log.error("outbox row %d (%s, %s) is dead after %s: %s",
                          row.id, row.channel, row.dedup_key, why, error)
                report.dead += 1
                report.errors.append(f"{row.channel}: {error}")
                return True
            when = now + timedelta(seconds=b.delay(attempts, self._rand(), retry_after))
            with self._engine.begin() as conn:
                outbox.retry_at(conn, row.id, when, error)
            log.warning("outbox row %d (%s, %s) attempt %d failed, retry at %s: %s",
                        row.id, row.channel, row.dedup_key, attempts, when.isoformat(), error)
            report.failed += 1
            report.errors.append(f"{row.channel}: {error}")
            return False
        with self._engine.begin() as conn:
            outbox.delivered(conn, row.id, self._clock())
        report.delivered += 1
        return True


@dataclass
class Alerting:
    """The state store, the alert engine (a sink) and the outbox dispatcher."""

    store: Engine
    sink: Sink
    dispatcher: Dispatcher
    available = True

    def drain(self, seconds: float, monotonic: Callable[[], float] = time.monotonic
              ) -> DispatchReport:
        """One pass over the outbox, stopping after `seconds`; what is left
        (failed, not yet due, or out of time) is tried by the next pass."""
        stop = monotonic() + seconds
        return self.dispatcher.dispatch(deadline=lambda: monotonic() >= stop)

    def stats(self, now: datetime) -> outbox.OutboxStats:
        return outbox.stats(self.store, now)

    def publish(self, clients: Sequence[outbox.GaugeClient], namespace: str,
                tags: list[str], now: datetime) -> None:
        """The outbox gauges, through each DogStatsD client."""
        stats = self.stats(now)
        for client in clients:
            outbox.emit_gauges(client, namespace, tags, stats)

    def close(self) -> None:
        for notifier in self.dispatcher.notifiers.values():
            close = getattr(notifier, "close", None)  # HTTP clients have one
            if callable(close):
                close()
        self.store.dispose()


class AlertingUnavailable:
    """Stands in when the state store cannot be opened: the checks still run
    and their metrics still reach Datadog; the run reports why and exits 69."""

    available = False

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.sink: Sink = NullSink("alerting")

    def drain(self, seconds: float) -> DispatchReport:
        return DispatchReport(errors=[self.reason])

    def publish(self, clients: Sequence[outbox.GaugeClient], namespace: str,
                tags: list[str], now: datetime) -> None:
        return None  # no numbers rather than wrong ones

    def close(self) -> None:
        return None
