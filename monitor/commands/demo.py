"""`billing-monitor demo`: an embedded SQLite billing week (monitor/commands/demo_data.py),
the checks run through the sinks, and what was measured and sent, shown."""

from __future__ import annotations

import argparse
import tempfile
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from billing_monitor.alerts.statsd import RecordingClient, StatsdClient
from billing_monitor.assembly import build_offline, sink_summary
from billing_monitor.checking.billing_db import open_engine
from billing_monitor.clock import utc_now
from billing_monitor.commands.demo_data import demo_database, populate
from billing_monitor.commands.errors import ExitCode
from billing_monitor.commands.render import report_json, report_text
from billing_monitor.settings.load import parse_settings
from billing_monitor.settings.model import Settings


def demo_settings(db_path: Path, env: Mapping[str, str]) -> Settings:
    text = resources.files("billing_monitor.config").joinpath("demo.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    raw["database"] = {"url": f"sqlite:///{db_path}"}
    # The demo's state store, if anything opens one, stays beside its database.
    raw["state"] = {"url": f"sqlite:///{db_path.parent / 'billing-monitor-state.db'}"}
    # The demo reads its own embedded database, whatever the environment names.
    own = {k: v for k, v in env.items() if k != "BILLING_MONITOR_DATABASE_URL"}
    return parse_settings(raw, "<embedded demo config>", own)


def cmd_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="billing-demo-"))
    db_path = demo_database(directory)
    settings = demo_settings(db_path, env)
    now = utc_now()
    engine = open_engine(settings.database.url, read_only=False)
    planted = populate(engine, settings, now)
    engine.dispose()
    recorders: list[RecordingClient] = []

    def record(client: StatsdClient) -> StatsdClient:
        recorders.append(RecordingClient(client))
        return recorders[-1]

    services, sinks, runner = build_offline(settings, env, lambda: now, wrap_statsd=record)
    try:
        report = runner.run()
    finally:
        for sink in sinks:
            sink.close()
        services.close()
    sent = [line for r in recorders for line in r.sent]
    where = sink_summary(settings, env)["statsd"]
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
