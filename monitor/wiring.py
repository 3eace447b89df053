"""What one configuration builds for the daemon: services, sinks, runner.
A reload builds a new `Wiring` and retires the old one once idle."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from alerts.config import Secrets
from alerts.notifiers import build_notifiers
from alerts.prometheus import MonitorMetrics
from alerts.statsd import StatsdClient
from monitor.alerting_runtime import Alerting, AlertingUnavailable
from monitor.app import AppServices, build_alerting, build_runner, build_sinks
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
    alerting: Alerting | AlertingUnavailable = field(
        default_factory=lambda: AlertingUnavailable("alerting not wired"))
    # The DogStatsD clients of this wiring, for gauges sent outside check runs.
    statsd: tuple[StatsdClient, ...] = ()

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


def open_alerting(settings: Settings, clock: Clock = utc_now,
                  on_queued: Callable[[], None] = lambda: None
                  ) -> Alerting | AlertingUnavailable:
    """The state store, alert engine and dispatcher. An unreachable store does
    not stop the checks: their metrics still flow, /healthz says why."""
    try:
        return build_alerting(settings, build_notifiers(settings, Secrets.from_env(os.environ)),
                              clock=clock, on_queued=on_queued)
    except SQLAlchemyError as exc:
        return AlertingUnavailable(describe_error(exc))


def build_wiring(
    settings: Settings, metrics: MonitorMetrics, clock: Clock = utc_now, scrub: Scrub = same,
    on_queued: Callable[[], None] = lambda: None,
) -> Wiring:
    services = AppServices(settings)
    alerting = open_alerting(settings, clock, on_queued)
    if isinstance(alerting, AlertingUnavailable):
        log.error("state store unavailable: %s; checks run without alerting", alerting.reason)
    clients: list[StatsdClient] = []

    def keep(client: StatsdClient) -> StatsdClient:
        clients.append(client)
        return client

    built = build_sinks(settings, wrap_statsd=keep, metrics=metrics, extra=[alerting.sink])
    sinks: list[Sink] = [ScrubbingSink(s, scrub) for s in built]
    runner = build_runner(settings, services, sinks, clock=clock)
    return Wiring(settings, services, sinks, runner, alerting, tuple(clients))
