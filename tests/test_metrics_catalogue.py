"""Every metric the daemon emits during a real cycle on the demo database is
in docs/metrics.md and in the Datadog exports (integrations-core's
metadata.csv idea)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.assembly import build_wiring
from billing_monitor.commands.demo import demo_settings
from billing_monitor.commands.export import dashboard, monitors
from billing_monitor.daemon.hooks import Hooks
from billing_monitor.daemon.http import HttpEndpoint
from billing_monitor.daemon.loop import Daemon
from billing_monitor.daemon.systemd import NullNotifier
from billing_monitor.settings.sections import StatsdSection
from tests.daemon_helpers import NOW, make_demo_db
from tests.peers.statsd import UdpListener

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = (ROOT / "docs" / "metrics.md").read_text("utf-8")


def catalogued() -> set[str]:
    return set(re.findall(r"^\| `([a-z0-9_.]+)` \|", CATALOGUE, flags=re.M))


def datagram_name(line: str) -> str:
    if line.startswith("_sc|"):
        return line.split("|")[1]
    return line.split(":", 1)[0]


def test_every_emitted_metric_is_catalogued_and_exported(
    tmp_path: Path, statsd: UdpListener
) -> None:
    db = make_demo_db(tmp_path)
    base = demo_settings(db, os.environ)
    settings = base.model_copy(update={"statsd": StatsdSection(
        port=statsd.port, namespace=base.statsd.namespace, tags=base.statsd.tags)})
    metrics = MonitorMetrics()
    daemon = Daemon(settings, load=lambda: settings, build=lambda s, m: build_wiring(
        s, m, os.environ, clock=lambda: NOW), metrics=metrics, hooks=Hooks(),
        notifier=NullNotifier(), clock=lambda: NOW)
    endpoint = HttpEndpoint("127.0.0.1", 0, metrics.exposition, daemon.health)
    endpoint.start()
    try:
        daemon.start()
        for name in settings.checks:
            daemon.run_check(name)
        daemon.reload()
        scraped = httpx.get(f"{endpoint.address}/metrics").text
    finally:
        daemon.stop()
        endpoint.close()

    sent = {datagram_name(line) for line in statsd.drain()}
    prometheus = set()
    for family in text_string_to_metric_families(scraped):
        prometheus.add(family.name + ("_total" if family.type == "counter" else ""))
    assert {"billing.unbilled_orders", "billing.orders", "billing.health"} <= sent
    assert {"billing_orders", "billing_check_runs_total", "billing_outbox_depth"} <= prometheus

    names = catalogued()
    assert sent - names == set(), "emitted to DogStatsD but not in docs/metrics.md"
    assert prometheus - names == set(), "exposed on /metrics but not in docs/metrics.md"

    exports = json.dumps(dashboard(settings)) + json.dumps(monitors(settings))
    missing = {n for n in sent if n not in exports}
    assert missing == set(), "emitted to DogStatsD but in neither the dashboard nor the monitors"


def test_catalogue_rows_are_complete() -> None:
    rows = [r for r in CATALOGUE.splitlines() if r.startswith("| `")]
    assert len(rows) == len(catalogued())
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5 and all(cells), row
