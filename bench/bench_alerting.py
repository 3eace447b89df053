"""How long the alert engine and the outbox dispatcher take per check result
and per notification on a SQLite state file (or BILLING_MONITOR_STATE_URL).

    .venv/bin/python bench/bench_alerting.py [runs]

Every run flips a check between CRIT and OK, so each emit writes state and
an outbox row per channel (the worst case); the dispatcher then delivers
them through a notifier that does nothing."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from billing_monitor.alerting import outbox
from billing_monitor.alerting.dispatcher import Dispatcher
from billing_monitor.alerting.engine import AlertEngine
from billing_monitor.alerting.store import open_state
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds


class Nothing:
    max_seconds = 0.0

    def __init__(self, name: str) -> None:
        self.name = name

    def deliver(self, notification: Notification) -> None:
        return None


def main(runs: int) -> None:
    url = os.environ.get("BILLING_MONITOR_STATE_URL") or (
        f"sqlite:///{Path(tempfile.mkdtemp()) / 'state.db'}")
    store = open_state(url)
    opts = CheckOptions(type="sql", thresholds=Thresholds(critical=10))
    checks = {f"check_{i}": opts for i in range(20)}
    engine = AlertEngine(store, checks, ["pagerduty", "slack"], service="billing",
                         env="bench", source="bench")
    at = datetime(2026, 11, 19, tzinfo=UTC)
    period = current_period("iso_week", "UTC", at)
    started = time.perf_counter()
    for i in range(runs):
        value = 25.0 if (i // 20) % 2 == 0 else 0.0
        status = Status.CRIT if value else Status.OK
        m = Measurement("v", value)
        engine.emit(CheckResult(f"check_{i % 20}", status, (Evaluation(m, status),), 0.0,
                                at + timedelta(seconds=i), period))
    emit_s = time.perf_counter() - started
    depth = outbox.stats(store, at).depth
    dispatcher = Dispatcher(store, {"pagerduty": Nothing("pagerduty"), "slack": Nothing("slack")},
                            clock=lambda: at + timedelta(days=1))
    started = time.perf_counter()
    delivered = 0
    while outbox.stats(store, at).depth:
        delivered += dispatcher.dispatch().delivered
    dispatch_s = time.perf_counter() - started
    backend = url.split(":", 1)[0]
    print(f"{backend}: {runs} emits in {emit_s:.2f}s ({emit_s / runs * 1000:.2f} ms each), "
          f"{depth} outbox rows; {delivered} delivered in {dispatch_s:.2f}s "
          f"({dispatch_s / max(delivered, 1) * 1000:.2f} ms each)")
    store.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
