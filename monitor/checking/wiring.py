"""What one configuration builds (monitor/assembly.py): services, sinks, the
runner and alerting. `check` uses one for a run; the daemon holds one and a
reload builds a new `Wiring` and retires the old one once idle."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
        database engine; never raises."""
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
