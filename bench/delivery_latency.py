"""From the end of a check to PagerDuty receiving the event, in the daemon and
in `billing-monitor check` (issue 8: targets p50 <= 0.5 s, p99 <= 1 s in the
daemon; <= 10 ms in `check`).

    .venv/bin/python -m bench.delivery_latency [RUNS]

Both paths are the product as assembled for users (monitor.service's wiring
for the daemon, monitor.cli for `check`), against the local PagerDuty peer
over TLS, with a SQLite state store (WAL, synchronous FULL) in a temporary
directory. Every run flips the billing value, so each causes one event (a
trigger, then its resolve). The daemon's `dispatch_seconds` is an hour: only
the wake-up can make it fast. The `check` path is timed from the call to
`Alerting.drain` (the run is over, every result recorded) to the peer's
receipt; it is in-process, so it does not include the interpreter's start-up
(docs/benchmarks.md has that on its own).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from billing_monitor.alerting.runtime import Alerting
from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.assembly import build_hooks, build_wiring
from billing_monitor.commands import cli
from billing_monitor.daemon.loop import Daemon
from billing_monitor.daemon.systemd import NullNotifier
from billing_monitor.settings.load import load_settings
from tests.peers.http_peers import Received, Reply, make_tls
from tests.peers.http_services import PagerDutyPeer

KEY = "BenchR0utingKey0123456789abcdef0"


class StampingPeer(PagerDutyPeer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.stamps: list[float] = []
        super().__init__(*args, **kwargs)

    def handle(self, req: Received) -> Reply:
        self.stamps.append(time.monotonic())
        return super().handle(req)


def _setup(directory: Path, peer: PagerDutyPeer) -> Path:
    sqlite3.connect(directory / "billing.db").execute("CREATE TABLE t (v INTEGER)").connection \
        .commit()
    cfg = directory / "bm.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{directory / 'billing.db'}"
[statsd]
enabled = false
[http]
enabled = false
[outbox]
dispatch_seconds = 3600
[pagerduty]
events_url = "{peer.url}"
[checks.refunds]
type = "sql"
query = "SELECT COALESCE(MAX(v), 0) FROM t"
thresholds = {{ critical = 10 }}
""")
    return cfg


def _flip(directory: Path, i: int) -> None:
    with sqlite3.connect(directory / "billing.db") as conn:
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t VALUES (?)", (25 if i % 2 == 0 else 0,))


def _wait(peer: StampingPeer, count: int) -> float:
    deadline = time.monotonic() + 30
    while len(peer.stamps) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the event never arrived")
        time.sleep(0.0005)
    return peer.stamps[count - 1]


def daemon_path(runs: int, directory: Path, peer: StampingPeer) -> list[float]:
    cfg = _setup(directory, peer)
    settings = load_settings(cfg, os.environ)
    metrics = MonitorMetrics()
    holder: list[Daemon] = []
    hooks = build_hooks(settings, metrics, lambda: holder[0].wiring, os.environ)
    daemon = Daemon(settings, load=lambda: load_settings(cfg, os.environ), metrics=metrics,
                    hooks=hooks, build=lambda s, m: build_wiring(
                        s, m, os.environ, on_queued=hooks.wake),
                    notifier=NullNotifier())
    holder.append(daemon)
    daemon.start()
    out = []
    try:
        for i in range(runs):
            _flip(directory, i)
            before = time.monotonic()
            report = daemon.run_check("refunds")
            assert report is not None
            ended = before + report.results[0].duration_s
            out.append(_wait(peer, i + 1) - ended)
    finally:
        daemon.stop(timeout=5)
    return out


def check_path(runs: int, directory: Path, peer: StampingPeer) -> list[float]:
    cfg = _setup(directory, peer)
    marks: list[float] = []
    original = Alerting.drain

    def marked(self: Alerting, *args: Any, **kwargs: Any) -> Any:
        marks.append(time.monotonic())
        return original(self, *args, **kwargs)

    Alerting.drain = marked  # type: ignore[method-assign]
    out = []
    try:
        for i in range(runs):
            _flip(directory, i)
            cli.run(["--config", str(cfg), "--log-level", "ERROR", "check"])
            out.append(_wait(peer, i + 1) - marks[-1])
    finally:
        Alerting.drain = original  # type: ignore[method-assign]
    return out


def _describe(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return (f"{name}: {len(ms)} events, p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
            f"max {ms[-1]:.1f} ms")


def main(runs: int) -> None:
    tls = make_tls()
    ca = Path(tempfile.mkdtemp()) / "ca.pem"
    ca.write_bytes(tls.ca_pem)
    os.environ.update(SSL_CERT_FILE=str(ca), PAGERDUTY_ROUTING_KEY=KEY)
    for k in ("SLACK_WEBHOOK_URL", "GOOGLE_CHAT_WEBHOOK_URL", "BILLING_MONITOR_STATE_URL"):
        os.environ.pop(k, None)
    for name, path in (("daemon", daemon_path), ("check", check_path)):
        peer = StampingPeer(tls)
        try:
            print(_describe(name, path(runs, Path(tempfile.mkdtemp()), peer)))
        finally:
            peer.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
