"""`billing-monitor demo`: an embedded SQLite billing week (monitor/demo.py),
the checks run through the sinks, and what was measured and sent, shown."""

from __future__ import annotations

import argparse
import os
import tempfile
import tomllib
from importlib import resources
from pathlib import Path

from alerts.statsd import RecordingClient, StatsdClient
from monitor.app import AppServices, build_runner, build_sinks, open_engine, sink_summary
from monitor.demo import demo_database, populate
from monitor.errors import ExitCode
from monitor.render import report_json, report_text
from monitor.runner import utc_now
from monitor.settings import Settings, parse_settings


def demo_settings(db_path: Path) -> Settings:
    text = resources.files("monitor.config").joinpath("demo.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    raw["database"] = {"url": f"sqlite:///{db_path}"}
    # The demo's state store, if anything opens one, stays beside its database.
    raw["state"] = {"url": f"sqlite:///{db_path.parent / 'billing-monitor-state.db'}"}
    env = {k: v for k, v in os.environ.items() if k != "BILLING_MONITOR_DATABASE_URL"}
    return parse_settings(raw, "<embedded demo config>", env)


def cmd_demo(args: argparse.Namespace) -> int:
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="billing-demo-"))
    db_path = demo_database(directory)
    settings = demo_settings(db_path)
    now = utc_now()
    engine = open_engine(settings.database.url, read_only=False)
    planted = populate(engine, settings, now)
    engine.dispose()
    recorders: list[RecordingClient] = []

    def record(client: StatsdClient) -> StatsdClient:
        recorders.append(RecordingClient(client))
        return recorders[-1]

    services = AppServices(settings)
    sinks = build_sinks(settings, wrap_statsd=record)
    try:
        report = build_runner(settings, services, sinks, clock=lambda: now).run()
    finally:
        for sink in sinks:
            sink.close()
        services.close()
    sent = [line for r in recorders for line in r.sent]
    where = sink_summary(settings)["statsd"]
    if args.json:
        print(report_json(report, {"database": str(db_path), "planted": planted,
                                   "statsd": where, "sent": sent}))
        return ExitCode.OK
    print(f"Demo billing database: {db_path}")
    print(f"Planted this week: {planted['unbilled']} unbilled orders ({planted['failed']} with "
          f"failed charges), {planted['missing']} billed order without a billing record, "
          f"{planted['orders']} orders in all.\n")
    print(report_text(report, settings))
    print(f"\nSent to DogStatsD ({where}), {len(sent)} datagrams:")
    print("\n".join(f"  {line}" for line in sent))
    print("  (UDP is fire and forget: with no agent listening there, they are dropped"
          " and nothing is raised.)")
    print("\nThe demo exits 0; `billing-monitor check` exits 0/1/2/3 by the worst status.")
    return ExitCode.OK
