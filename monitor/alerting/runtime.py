"""What the commands and the daemon hold of alerting: the state store, the
alert engine (a sink) and the outbox dispatcher, or a stand-in when the
store cannot be opened."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from billing_monitor.alerting import outbox
from billing_monitor.alerting.dispatcher import Dispatcher, DispatchReport
from billing_monitor.alerts.contract import NullSink, Sink


@dataclass
class Alerting:
    """The state store, the alert engine (a sink) and the outbox dispatcher."""

    store: Engine
    sink: Sink
    dispatcher: Dispatcher
    available = True

    def drain(self, seconds: float, monotonic: Callable[[], float] = time.monotonic,
              interrupt: Callable[[], bool] = lambda: False) -> DispatchReport:
        """One pass over the outbox, stopping after `seconds` (or at
        `interrupt()`); what is left (failed, not yet due, or out of time) is
        tried by the next pass."""
        stop = monotonic() + seconds
        return self.dispatcher.dispatch(deadline=lambda: monotonic() >= stop,
                                        interrupt=interrupt)

    def stats(self, now: datetime) -> outbox.OutboxStats:
        return outbox.stats(self.store, now)

    def publish(self, clients: Sequence[outbox.GaugeClient], namespace: str,
                tags: list[str], now: datetime) -> outbox.OutboxStats:
        """The outbox gauges, through each DogStatsD client; returns them."""
        stats = self.stats(now)
        for client in clients:
            outbox.emit_gauges(client, namespace, tags, stats, self.dispatcher.notifiers)
        return stats

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

    def drain(self, seconds: float, interrupt: Callable[[], bool] = lambda: False
              ) -> DispatchReport:
        return DispatchReport(errors=[self.reason])

    def publish(self, clients: Sequence[outbox.GaugeClient], namespace: str,
                tags: list[str], now: datetime) -> None:
        return None  # no numbers rather than wrong ones

    def close(self) -> None:
        return None


def redact_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def unavailable_message(url: str, reason: str) -> str:
    return f"state store {redact_url(url)} is unavailable: {reason}"


def unwritable_message(url: str, reason: str) -> str:
    return f"state store {redact_url(url)} does not take writes: {reason}"
