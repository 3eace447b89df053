"""A check stuck in its database call is cut off at its timeout and blocks
neither the other checks nor its own next run (in-process, injected clock)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.assembly import build_wiring, period_for
from billing_monitor.checking.runner import PlannedCheck, Runner
from billing_monitor.checking.wiring import Wiring
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import Measurement, Status
from billing_monitor.daemon.hooks import Hooks
from billing_monitor.daemon.loop import Daemon
from billing_monitor.settings.load import load_settings
from billing_monitor.settings.model import Settings
from tests.daemon_helpers import NOW
from tests.test_daemon import Recorder, config, sample

__all__ = ["config"]  # fixture


class Hang:
    """A check stuck in its database call until released."""

    def __init__(self, name: str, release: threading.Event) -> None:
        self.name = name
        self._release = release

    def collect(self, ctx: object) -> list[Measurement]:
        self._release.wait(30)
        return []


def test_a_hung_check_is_cut_off_and_blocks_neither_others_nor_its_next_run(
    config: Path,
) -> None:
    release = threading.Event()

    def build(s: Settings, m: MonitorMetrics) -> Wiring:
        wiring = build_wiring(s, m, os.environ, clock=lambda: NOW)
        opts = CheckOptions(type="sql", timeout_seconds=0.1)
        checks = {**wiring.runner.checks, "hang": PlannedCheck(Hang("hang", release), opts)}
        wiring.runner = Runner(checks, wiring.sinks, period_for(s), clock=lambda: NOW)
        return wiring

    settings = load_settings(config, {})
    d = Daemon(settings, load=lambda: settings, build=build, metrics=MonitorMetrics(),
               hooks=Hooks(), notifier=Recorder(), clock=lambda: NOW)
    try:
        results = []
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(d.run_check, n) for n in ("hang", "unbilled_orders", "hang")]
            results = [f.result(timeout=30) for f in futures]
        statuses = [r.results[0].status if r else None for r in results]
        assert statuses == [Status.UNKNOWN, Status.CRIT, Status.UNKNOWN]
        assert "timed out" in (results[0].results[0].error or "")  # type: ignore[union-attr]
        assert sample(d, "billing_check_errors_total", check="hang") == 2
    finally:
        release.set()

