"""What one configuration builds for the daemon: services, sinks, runner.
A reload builds a new `Wiring` and retires the old one once idle."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from alerts.prometheus import MonitorMetrics
from monitor.app import AppServices, build_runner, build_sinks
from monitor.runner import Clock, Runner, describe_error, utc_now
from monitor.settings import Settings
from monitor.types import CheckResult, Sink

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
Scrub = Callable[[str], str]


def same(text: str) -> str:
    return text


def scrub_result(result: CheckResult, scrub: Scrub) -> CheckResult:
    """A driver's error message may echo its input (a query, a URL): scrub
    known secrets before the error leaves the process or reaches the store."""
    if not result.error:
        return result
    return dataclasses.replace(result, error=scrub(result.error))


class ScrubbingSink:
    def __init__(self, inner: Sink, scrub: Scrub) -> None:
        self.name = inner.name
        self._inner = inner
        self._scrub = scrub

    def emit(self, result: CheckResult) -> None:
        self._inner.emit(scrub_result(result, self._scrub))

    def close(self) -> None:
        self._inner.close()


def build_wiring(
    settings: Settings, metrics: MonitorMetrics, clock: Clock = utc_now, scrub: Scrub = same
) -> Wiring:
    services = AppServices(settings)
    sinks: list[Sink] = [ScrubbingSink(s, scrub) for s in build_sinks(settings, metrics=metrics)]
    return Wiring(settings, services, sinks, build_runner(settings, services, sinks, clock=clock))
