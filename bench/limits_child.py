"""One measurement of issue 10's targets, in this fresh process, printed as
one JSON line (`python -m bench.limits_child cycle|outbox|deliver ARGS`).
bench/limits.py runs it under two interpreters (the code before and after)
side by side and tabulates the ratios. Only APIs that both have are used.

- `cycle N KEYS`: a cycle of N trivial `sql` checks (`SELECT 0 AS value`)
  through the product's wiring (build_wiring: the runner, the DogStatsD sink
  to a local UDP socket, the alert engine on a SQLite WAL state store), KEYS
  other alert keys already in the store. The second cycle is measured (the
  first creates the rows): CPU (user+sys) per check, and the alert sink's share.
- `outbox KEPT`: a state store holding KEPT delivered rows (2% of them dead)
  and 20 pending rows not yet due: CPU and wall of one dispatcher pass and of
  the outbox gauges' query (median of 7).
- `deliver N`: N state-changing results (2 channels each), then every outbox
  row delivered through notifiers that do nothing: CPU and wall per delivered
  notification (bench/bench_alerting.py's worst case).
"""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from billing_monitor.alerting import outbox
from billing_monitor.alerting.dispatcher import Dispatcher
from billing_monitor.alerting.engine import AlertEngine
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import alerts
from billing_monitor.alerting.tables import outbox as outbox_table
from billing_monitor.alerts.contract import Notification
from billing_monitor.assembly import build_wiring
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds
from billing_monitor.settings.load import load_settings

AT = datetime(2026, 11, 19, tzinfo=UTC)


class Nothing:
    max_seconds = 0.0

    def __init__(self, name: str) -> None:
        self.name = name

    def deliver(self, notification: Notification) -> None:
        return None


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _config(tmp: Path, checks: int, statsd_port: int) -> Path:
    (tmp / "billing.db").touch()
    lines = ['[monitor]\nservice = "billing"\nenv = "bench"\n',
             '[database]\nurl = "sqlite:///billing.db"\n',
             '[period]\nkind = "iso_week"\ntimezone = "UTC"\n',
             f'[statsd]\nhost = "127.0.0.1"\nport = {statsd_port}\n',
             '[state]\nurl = "sqlite:///state.db"\n']
    for i in range(checks):
        lines.append(f'[checks.c{i}]\ntype = "sql"\nquery = "SELECT 0 AS value"\n'
                     f'[checks.c{i}.thresholds]\ncritical = 10\n')
    path = tmp / "bench.toml"
    path.write_text("\n".join(lines))
    return path


def _fill_keys(url: str, keys: int) -> None:
    store = open_state(url)
    rows = [dict(dedup_key=f"billing/other_{i}/2026-W47", check_name=f"other_{i}",
                 kind="status", status="OK", bad_count=0, ok_count=1, unknown_count=0,
                 is_open=False, updated_at=AT, seq=0) for i in range(keys)]
    with store.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(alerts), rows[start:start + 10_000])
    store.dispose()


def cycle(checks: int, keys: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    settings = load_settings(_config(tmp, checks, udp.getsockname()[1]), {})
    if keys:
        _fill_keys(f"sqlite:///{tmp / 'state.db'}", keys)
    wiring = build_wiring(settings, None, {})
    alert_sink = [s for s in wiring.sinks if s.name == "alerting"]
    spent = [0.0]
    if alert_sink:  # time the alert engine's share from outside, on either version
        sink = alert_sink[0]
        inner: Callable[[CheckResult], None] = sink.emit

        def timed(result: CheckResult) -> None:
            start = time.process_time()
            try:
                inner(result)
            finally:
                spent[0] += time.process_time() - start

        sink.emit = timed  # type: ignore[method-assign]
    wiring.runner.run()  # the first cycle creates every row
    spent[0] = 0.0
    start = _clock()
    report = wiring.runner.run()
    cpu, wall = _since(start)
    wiring.close()
    udp.close()
    shutil.rmtree(tmp, ignore_errors=True)
    assert len(report.results) == checks and all(r.status is Status.OK for r in report.results)
    return {"what": "cycle", "checks": checks, "keys": keys,
            "cpu_ms_per_check": cpu / checks * 1000, "wall_ms_per_check": wall / checks * 1000,
            "alert_cpu_ms_per_check": spent[0] / checks * 1000, "rss_mib": _rss_mib()}


def _fill_outbox(url: str, kept: int) -> None:
    store = open_state(url)
    payload = {"action": "trigger", "dedup_key": "billing/x", "summary": "s" * 80}
    with store.begin() as conn:
        for start in range(0, kept, 20_000):
            conn.execute(insert(outbox_table), [
                dict(created_at=AT - timedelta(seconds=i), channel="pagerduty",
                     dedup_key=f"billing/c{i % 500}/2026-W47", payload=payload, attempts=1,
                     next_attempt_at=AT, delivered_at=None if i % 50 == 0 else AT,
                     dead=i % 50 == 0)
                for i in range(start, min(kept, start + 20_000))])
        conn.execute(insert(outbox_table), [
            dict(created_at=AT, channel="pagerduty", dedup_key=f"billing/p{i}", payload=payload,
                 attempts=1, next_attempt_at=AT + timedelta(hours=1), dead=False)
            for i in range(20)])
    store.dispose()


def outbox_pass(kept: int, runs: int = 7) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    url = f"sqlite:///{tmp / 'state.db'}"
    _fill_outbox(url, kept)
    store = open_state(url)
    dispatcher = Dispatcher(store, {"pagerduty": Nothing("pagerduty")}, clock=lambda: AT)
    passes, gauges = [], []
    for _ in range(runs):
        start = _clock()
        report = dispatcher.dispatch()
        passes.append(_since(start))
        start = _clock()
        stats = outbox.stats(store, AT)
        gauges.append(_since(start))
    store.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    assert report.delivered == 0 and report.skipped == 20 and stats.depth == 20
    return {"what": "outbox", "kept": kept,
            "pass_cpu_ms": statistics.median(c for c, _ in passes) * 1000,
            "pass_wall_ms": statistics.median(w for _, w in passes) * 1000,
            "stats_cpu_ms": statistics.median(c for c, _ in gauges) * 1000,
            "stats_wall_ms": statistics.median(w for _, w in gauges) * 1000}


def deliver(runs: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-deliver-"))
    store = open_state(f"sqlite:///{tmp / 's.db'}")
    opts = CheckOptions(type="sql", thresholds=Thresholds(critical=10))
    engine = AlertEngine(store, {f"check_{i}": opts for i in range(20)},
                         ["pagerduty", "slack"], service="billing", env="bench", source="bench")
    period = current_period("iso_week", "UTC", AT)
    start = _clock()
    for i in range(runs):
        value = 25.0 if (i // 20) % 2 == 0 else 0.0
        status = Status.CRIT if value else Status.OK
        m = Measurement("v", value)
        engine.emit(CheckResult(f"check_{i % 20}", status, (Evaluation(m, status),), 0.0,
                                AT + timedelta(seconds=i), period))
    emit_cpu, emit_wall = _since(start)
    dispatcher = Dispatcher(store, {"pagerduty": Nothing("pagerduty"), "slack": Nothing("slack")},
                            clock=lambda: AT + timedelta(days=1))
    start = _clock()
    delivered = 0
    while True:
        done = dispatcher.dispatch().delivered
        if not done:
            break
        delivered += done
    cpu, wall = _since(start)
    store.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"what": "deliver", "results": runs, "delivered": delivered,
            "emit_cpu_ms": emit_cpu / runs * 1000, "emit_wall_ms": emit_wall / runs * 1000,
            "cpu_ms_per_notification": cpu / delivered * 1000,
            "wall_ms_per_notification": wall / delivered * 1000}


def main(argv: list[str]) -> int:
    what, *args = argv
    if what == "cycle":
        out = cycle(int(args[0]), int(args[1]) if len(args) > 1 else 0)
    elif what == "outbox":
        out = outbox_pass(int(args[0]))
    else:
        out = deliver(int(args[0]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
