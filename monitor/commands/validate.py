"""`billing-monitor validate [--json] [--connect]`.

Without --connect nothing is contacted. With it, the billing database is
(monitor/commands/connect_check.py), and the exit code says what it found:
0 every query planned and the role can only read; 1 a warning (the role can
write, is not read-only by default, or the SQLite file is writable);
69 the database is unreachable; 78 a query is refused by the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict

from billing_monitor.alerting.runtime import redact_url
from billing_monitor.alerts.routing import table_lines
from billing_monitor.assembly import missing_secrets, sink_summary
from billing_monitor.checks.errors import ConfigError
from billing_monitor.commands.connect_check import ConnectFailed, ConnectReport, verify
from billing_monitor.commands.errors import ExitCode
from billing_monitor.settings.model import Settings
from billing_monitor.settings.routes import legacy_configured, routing_table
from billing_monitor.tables import table


def _connect_code(report: ConnectReport) -> int:
    if report.problems:
        return ExitCode.CONFIG
    return ExitCode.WARN if report.warnings else ExitCode.OK


def _print_report(report: ConnectReport) -> None:
    print(f"\nConnected to {report.database}" + (f" as {report.role}" if report.role else "")
          + ".")
    for line in report.verified:
        print(f"  ok       {line}")
    for line in report.warnings:
        print(f"  WARNING  {line}")
    for line in report.problems:
        print(f"  ERROR    {line}")


def cmd_validate(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    # What the daemon would refuse at start must not pass validation.
    missing = missing_secrets(settings, env)
    if missing:
        raise ConfigError(missing)
    report = None
    if getattr(args, "connect", False):
        try:
            report = verify(settings)
        except ConnectFailed as exc:
            print(f"billing-monitor: {exc}", file=sys.stderr)
            return ExitCode.UNAVAILABLE
    checks = [
        [name, o.type, o.schedule, f"{o.timeout_seconds:g}s", o.thresholds.describe()]
        for name, o in settings.checks.items()
    ]
    sinks = sink_summary(settings, env)
    routing = routing_table(settings, legacy_configured(settings, env))
    if args.json:
        print(json.dumps({
            "config": settings.source,
            "database": redact_url(settings.database.url),
            "period": settings.period.model_dump(),
            "checks": [dict(zip(["name", "type", "schedule", "timeout", "thresholds"], c,
                                strict=True)) for c in checks],
            "sinks": dict(sinks),
            "routing": {"routes": [r.model_dump(by_alias=True) for r in routing.routes],
                        "default": list(routing.default)},
            **({"connect": asdict(report)} if report else {}),
        }, indent=2))
        return _connect_code(report) if report else ExitCode.OK
    print(f"Configuration {settings.source} is valid.\n")
    print(f"Database: {redact_url(settings.database.url)}")
    print(f"Period:   {settings.period.kind} in {settings.period.timezone}"
          f" (offset {settings.period.offset})\n")
    print(table(["CHECK", "TYPE", "SCHEDULE", "TIMEOUT", "THRESHOLDS"], checks))
    print()
    print(table(["SINK", "DESTINATION"], [[k, v] for k, v in sinks.items()]))
    print("\nRouting (first match wins unless continue):")
    print("\n".join(table_lines(routing)))
    if report is None:
        return ExitCode.OK
    _print_report(report)
    return _connect_code(report)
