"""Where the rest of the product plugs into the daemon.

The alerting parts (outbox dispatcher, liveness pings, the daemon's own
heartbeat, the state-store probe) give the daemon callables; the daemon calls
them at the right moments and isolates every call, so a failing hook is logged
and counted but never stops a check. Unset, each hook is a no-op object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, text

from billing_monitor.alerting.leadership import UNFENCED
from billing_monitor.alerting.runtime import Alerting
from billing_monitor.alerting.store_guard import events_of
from billing_monitor.alerts.contract import Liveness, NullLiveness
from billing_monitor.alerts.liveness import Heartbeat, NullHeartbeat
from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.checking.wiring import Wiring, in_use
from billing_monitor.checks.contract import RunReport
from billing_monitor.clock import Clock, utc_now
from billing_monitor.daemon.delivery_loop import DeliveryLoop
from billing_monitor.daemon.scheduler import PeriodicJob
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.daemon")

# None when reachable; otherwise a reason, shown on /healthz (no secrets).
Probe = Callable[[], str | None]


def store_not_configured() -> str | None:
    return None


def nothing() -> None:
    return None


def always() -> bool:
    return True


def sole() -> dict[str, Any]:
    return {"role": "leader", "mode": "single instance (no lease)"}


@dataclass(frozen=True)
class Hooks:
    # After every check run, with its report.
    after_run: Sequence[Callable[[RunReport], None]] = ()
    # Scheduled beside the checks (the outbox dispatcher, the heartbeat).
    periodic: Sequence[PeriodicJob] = ()
    # At shutdown, after in-flight checks finished, within the shutdown bound
    # (one last outbox drain, queued liveness pings).
    on_stop: Sequence[Callable[[], None]] = ()
    liveness: Liveness = field(default_factory=NullLiveness)
    # /healthz "state store reachable"; the default reports "not configured".
    state_store: Probe = store_not_configured
    state_store_configured: bool = False
    # Threads started with the daemon (the delivery loop); stopped by on_stop.
    workers: Sequence[Worker] = ()
    # Called by the alert engine when it queued a notification.
    wake: Callable[[], None] = nothing
    # Whether this instance is the active one (daemon/leading.py); how, for /healthz.
    is_leader: Callable[[], bool] = always
    leadership: Callable[[], dict[str, Any]] = sole


class Worker(Protocol):
    def start(self) -> None: ...


def write_probe(store: Engine, now: datetime) -> str | None:
    events = events_of(store)
    problem = events.problem(now) if events is not None else None
    try:
        # Not fenced: a standby's store must take writes too, for when it leads.
        with store.connect().execution_options(**{UNFENCED: True}) as conn, \
                conn.begin() as tx:
            conn.execute(text("UPDATE schema_version SET version = version"))
            tx.rollback()
    except Exception as exc:
        return f"writes fail: {describe_error(exc)}"
    return problem


class AlertingHooks:
    """The outbox dispatcher, the state-store probe and the daemon's heartbeat,
    run against whatever the daemon's current wiring holds (a reload swaps it)."""

    def __init__(self, metrics: MonitorMetrics, current: Callable[[], Wiring],
                 heartbeat: Heartbeat | NullHeartbeat, clock: Clock = utc_now,
                 is_leader: Callable[[], bool] = always) -> None:
        self._is_leader = is_leader
        self._metrics = metrics
        self._current = current
        self._heartbeat = heartbeat
        self._clock = clock
        self._loop = DeliveryLoop(self.delivery_pass, self.interval, clock)
        self._store_up = True

    def delivery_pass(self, interrupt: Callable[[], bool]) -> datetime | None:
        return self.drain(None, interrupt)

    @property
    def loop(self) -> DeliveryLoop:
        return self._loop

    def drain(self, seconds: float | None = None,
              interrupt: Callable[[], bool] = lambda: False) -> datetime | None:
        """One bounded delivery pass, then the outbox gauges (DogStatsD through
        the wiring, Prometheus here). Returns when the earliest row it left
        behind is due. A standby delivers nothing: the leader does."""
        if not self._is_leader():
            return None
        # Held for the pass: a reload meanwhile retires this wiring, and its
        # notifiers' clients must not be closed under a delivery (they were:
        # "client has been closed", and the resolve waited for its retry).
        with in_use(self._current) as wiring:
            report, stats = wiring.deliver(
                wiring.settings.outbox.drain_seconds if seconds is None else seconds,
                self._clock, interrupt)
        for error in report.errors:
            log.warning("notification not delivered yet: %s", error)
        self.probe()
        if stats is None:
            return None
        self._metrics.outbox(stats.depth, stats.oldest_age_seconds, stats.dead,
                             {name: (b.depth, b.oldest_age_seconds, b.dead)
                              for name, b in stats.receivers.items()})
        return report.next_due

    def interval(self) -> float:
        return self._current().settings.outbox.dispatch_seconds

    def final_drain(self) -> None:
        """At shutdown: what can be delivered in a few seconds; the rest waits
        in the outbox for the next start."""
        self._loop.stop(5.0)
        self.drain(min(5.0, self._current().settings.outbox.drain_seconds))

    def beat(self) -> None:
        self._heartbeat.heartbeat()

    def close_heartbeat(self) -> None:
        self._heartbeat.close()

    def probe(self) -> str | None:
        """None when the state store takes writes; otherwise why not. It
        writes (and rolls back): a store that only reads (a read-only file, a
        full disk, a replica) cannot record an incident. Also run by every
        delivery pass, so the metric holds without a /healthz scrape."""
        alerting = self._current().alerting
        problem = alerting.reason if not isinstance(alerting, Alerting) else write_probe(
            alerting.store, self._clock())
        self._metrics.state_store_up.set(0 if problem else 1)
        if problem and self._store_up:
            log.error("state store is not usable: %s", problem)
        elif not problem and not self._store_up:
            log.info("state store is usable again")
        self._store_up = problem is None
        return problem
