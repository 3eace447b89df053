"""What one configuration builds (monitor/assembly.py): services, sinks, the
runner and alerting. `check` uses one for a run; the daemon holds one and a
reload builds a new `Wiring` and retires the old one once idle."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from billing_monitor.alerting.dispatcher import DispatchReport
from billing_monitor.alerting.outbox import OutboxStats
from billing_monitor.alerting.runtime import Alerting, AlertingUnavailable
from billing_monitor.alerts.contract import Sink
from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.alerts.statsd import StatsdClient
from billing_monitor.checking.runner import Runner
from billing_monitor.checking.services import AppServices
from billing_monitor.clock import Clock
from billing_monitor.logs import describe_error
from billing_monitor.settings.model import Settings

log = logging.getLogger("billing_monitor.daemon")


@dataclass
class Wiring:
    settings: Settings
    services: AppServices
    sinks: list[Sink]
    runner: Runner
    alerting: Alerting | AlertingUnavailable = field(
        default_factory=lambda: AlertingUnavailable("alerting not wired"))
    # The DogStatsD clients of this wiring, for gauges sent outside check runs.
    statsd: tuple[StatsdClient, ...] = ()
    # The tags of those gauges (env, service and [statsd] tags).
    gauge_tags: tuple[str, ...] = ()
    # Users of this wiring outside the check runs (the daemon's delivery pass):
    # a reload retiring it closes it when the last one leaves, not under it.
    _users: int = field(default=0, init=False, repr=False)
    _closing: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def acquire(self) -> bool:
        """One more user, unless a reload has already retired and closed it."""
        with self._lock:
            if self._closing:
                return False
            self._users += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            close_now = self._closing and self._users == 0
        if close_now:
            self._close()

    def deliver(self, seconds: float, clock: Clock,
                interrupt: Callable[[], bool] = lambda: False
                ) -> tuple[DispatchReport, OutboxStats | None]:
        """One bounded pass over the outbox, then the outbox gauges through
        each DogStatsD client: the step `check` ends with and the daemon's
        delivery loop repeats. The stats are None without a state store."""
        report = self.alerting.drain(seconds, interrupt=interrupt)
        stats = self.alerting.publish(self.statsd, self.settings.statsd.namespace,
                                      list(self.gauge_tags), clock())
        return report, stats

    def close(self) -> None:
        """Flush and close every sink, the alerting state store, then the
        database engine; never raises. While in use (`in_use`), when the last
        user releases it."""
        with self._lock:
            self._closing = True
            if self._users:
                return
        self._close()

    def _close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                log.warning("sink %s did not close cleanly: %s", sink.name, describe_error(exc))
        try:
            self.alerting.close()
        except Exception as exc:
            log.warning("alerting did not close cleanly: %s", describe_error(exc))
        self.services.close()


WiringFactory = Callable[[Settings, MonitorMetrics], Wiring]


@contextmanager
def in_use(current: Callable[[], Wiring]) -> Iterator[Wiring]:
    """The current wiring, held open for the block (a reload swaps `current`
    before it retires the old one, so a retired one is passed over)."""
    wiring = current()
    while not wiring.acquire():
        again = current()
        if again is wiring:  # closed for good (the daemon is stopping)
            yield wiring
            return
        wiring = again
    try:
        yield wiring
    finally:
        wiring.release()
