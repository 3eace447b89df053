"""What one configuration builds for the daemon: services, sinks, runner.
A reload builds a new `Wiring` and retires the old one once idle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from alerts.prometheus import MonitorMetrics
from monitor.app import AppServices, build_runner, build_sinks
from monitor.runner import Clock, Runner, describe_error, utc_now
from monitor.settings import Settings
from monitor.types import Sink

log = logging.getLogger("billing_monitor.daemon")


@dataclass
class Wiring:
    settings: Settings
    services: AppServices
    sinks: list[Sink]
    runner: Runner

    def close(self) -> None:
        """Flush and close every sink, then the database engine; never raises."""
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                log.warning("sink %s did not close cleanly: %s", sink.name, describe_error(exc))
        self.services.close()


WiringFactory = Callable[[Settings, MonitorMetrics], Wiring]


def build_wiring(settings: Settings, metrics: MonitorMetrics, clock: Clock = utc_now) -> Wiring:
    services = AppServices(settings)
    sinks = build_sinks(settings, metrics=metrics)
    return Wiring(settings, services, sinks, build_runner(settings, services, sinks, clock=clock))
