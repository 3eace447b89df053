"""The outbox dispatcher: delivers due rows through their notifier, each
channel in its own lane (a thread), in order per (channel, dedup key), with
exponential backoff and jitter. One channel never holds up another: a hanging
chat webhook costs the chat lane its timeouts, while the PagerDuty lane (started
first) pages at once. A row that stays undeliverable past `max_attempts` or
`max_age` (or fails permanently) is marked dead, logged at ERROR and counted;
it is never dropped silently.

Delivery is at least once: a crash after the peer accepted and before the row
is marked delivered sends it again, which PagerDuty absorbs by dedup key. A
claim records its holder (host, pid, process start) and lasts as long as the
notifier can take; a claim whose holder died on this host is due again at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from billing_monitor.alerting import outbox
from billing_monitor.alerting.holder import Holder
from billing_monitor.alerts.contract import Notifier, SinkError
from billing_monitor.clock import Clock, utc_now
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.dispatcher")
FIRST = ("pagerduty",)  # lanes started first, so a page never waits for a free lane
MAX_LANES = 8  # channels delivered at once
JOIN_POLL = 0.005  # seconds between looks at the deadline while lanes run


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: base * 2**(n-1), capped, times a jitter in
    [0.5, 1) so that many rows failing together do not retry together."""

    base_seconds: float = 30.0
    max_seconds: float = 1800.0
    max_attempts: int = 20
    max_age: timedelta = timedelta(hours=24)
    keep: timedelta = timedelta(days=7)  # delivered and dead rows, then pruned

    def delay(self, attempts: int, rand: float, retry_after: float | None = None) -> float:
        expo = min(self.max_seconds, self.base_seconds * 2.0 ** max(attempts - 1, 0))
        wait = expo * (0.5 + rand / 2)
        return max(wait, min(retry_after or 0.0, self.max_seconds))


def lease_for(notifier: Notifier | None) -> timedelta:
    """How long a claim holds: twice what one delivery can take, at least 10 s."""
    bound = float(getattr(notifier, "max_seconds", 60.0))
    return timedelta(seconds=max(10.0, 2 * bound))


@dataclass
class DispatchReport:
    delivered: int = 0
    failed: int = 0  # attempts that failed and will be retried
    dead: int = 0
    skipped: int = 0  # not due, or waiting behind an earlier row of the same key
    pruned: int = 0
    errors: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # lanes still delivering at the deadline
    next_due: datetime | None = None  # the earliest pending row not delivered in this pass

    def add(self, other: DispatchReport) -> None:
        self.delivered += other.delivered
        self.failed += other.failed
        self.dead += other.dead
        self.skipped += other.skipped
        self.errors += other.errors
        if other.next_due is not None:
            self.next_due = min(filter(None, (self.next_due, other.next_due)))


def lane_order(channels: set[str], first: Sequence[str] = FIRST) -> list[str]:
    return sorted(channels, key=lambda c: (c not in first, first.index(c) if c in first else 0, c))


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        notifiers: Mapping[str, Notifier],
        *,
        backoff: Backoff = Backoff(),
        clock: Clock = utc_now,
        rand: Callable[[], float] = random.random,
        holder: Holder | None = None,
        first: Sequence[str] = FIRST,
    ) -> None:
        self._engine = engine
        self.notifiers = notifiers
        self._backoff = backoff
        self._clock = clock
        self._rand = rand
        self._holder = holder or Holder.this_process()
        self._first = tuple(first)  # lanes started first: every PagerDuty receiver
        self._busy: set[str] = set()  # lanes still running from an earlier pass
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_LANES)

    def dispatch(self, deadline: Callable[[], bool] = lambda: False,
                 interrupt: Callable[[], bool] = lambda: False) -> DispatchReport:
        """One pass over the outbox, every channel in its own lane. Lanes stop
        taking rows at `deadline()`; the pass returns once every lane is done,
        or at `deadline()` or `interrupt()` (a lane still delivering then goes
        on in the background and is skipped by later passes until it is done)."""
        with self._engine.connect() as conn:
            rows = outbox.pending(conn)
        lanes: dict[str, list[outbox.Row]] = {}
        for row in rows:
            lanes.setdefault(row.channel, []).append(row)
        report = DispatchReport()
        running: list[tuple[str, threading.Thread, DispatchReport]] = []
        for channel in lane_order(set(lanes), self._first):
            with self._lock:
                busy = channel in self._busy
                self._busy.add(channel)
            if busy:
                report.skipped += len(lanes[channel])
                continue
            own = DispatchReport()
            worker = threading.Thread(target=self._lane, args=(channel, lanes[channel],
                                                               deadline, own),
                                      name=f"deliver-{channel}", daemon=True)
            worker.start()
            running.append((channel, worker, own))
        for channel, worker, own in running:
            while worker.is_alive() and not (deadline() or interrupt()):
                worker.join(JOIN_POLL)
            if worker.is_alive():
                report.in_flight.append(channel)
            else:
                report.add(own)
        with self._engine.begin() as conn:
            report.pruned = outbox.prune(conn, self._clock() - self._backoff.keep)
        return report

    def _lane(self, channel: str, rows: list[outbox.Row], deadline: Callable[[], bool],
              report: DispatchReport) -> None:
        try:
            with self._slots:
                self._deliver_lane(rows, deadline, report)
        except Exception as exc:  # the store went away mid-pass: the next pass retries
            log.error("delivery lane %s stopped: %s", channel, describe_error(exc))
            report.errors.append(f"{channel}: {describe_error(exc)}")
        finally:
            with self._lock:
                self._busy.discard(channel)

    def _deliver_lane(self, rows: list[outbox.Row], deadline: Callable[[], bool],
                      report: DispatchReport) -> None:
        blocked: set[str] = set()  # keep trigger -> resolve order per dedup key
        for row in rows:
            now = self._clock()
            # A channel this process has no notifier for (e.g. a manual run
            # without its secret) is left to a process that has one, until max_age.
            fresh = now - row.created_at < self._backoff.max_age
            absent = row.channel not in self.notifiers and fresh
            due = row.next_attempt_at <= now or self._holder.orphaned(row.claimed_by)
            if row.dedup_key in blocked or absent or not due or deadline():
                if not (absent or row.dedup_key in blocked):  # those wait on something else
                    report.next_due = min(filter(None, (report.next_due, row.next_attempt_at)))
                blocked.add(row.dedup_key)
                report.skipped += 1
                continue
            if not self._attempt(row, now, report):
                blocked.add(row.dedup_key)

    def _attempt(self, row: outbox.Row, now: datetime, report: DispatchReport) -> bool:
        """True when the lane may go on with this key (delivered or dead)."""
        b = self._backoff
        notifier = self.notifiers.get(row.channel)
        with self._engine.begin() as conn:
            if not outbox.claim(conn, row, now + lease_for(notifier), self._holder.token):
                return False
        attempts = row.attempts + 1
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
            report.next_due = min(filter(None, (report.next_due, when)))
            report.errors.append(f"{row.channel}: {error}")
            return False
        with self._engine.begin() as conn:
            outbox.delivered(conn, row.id, self._clock())
        report.delivered += 1
        return True

    def idle(self, timeout: float) -> bool:
        """Wait up to `timeout` for lanes still running from earlier passes."""
        stop = time.monotonic() + timeout
        while time.monotonic() < stop:
            with self._lock:
                if not self._busy:
                    return True
            time.sleep(JOIN_POLL)
        with self._lock:
            return not self._busy
