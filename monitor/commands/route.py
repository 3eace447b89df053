"""`billing-monitor route CHECK --severity crit|warn|degraded [--json]`:
where an alert of that check at that severity would go, and which routes
send it there (README "Routing alerts"). Nothing is sent."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from billing_monitor.alerts.routing import ALIASES, explain
from billing_monitor.commands.errors import ExitCode, UsageError
from billing_monitor.settings.model import Settings
from billing_monitor.settings.routes import check_facts, legacy_configured, routing_table


def cmd_route(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    facts = check_facts(settings)
    if args.check not in facts:
        raise UsageError(f"unknown check {args.check!r} (configured: {', '.join(facts)})")
    table = routing_table(settings, legacy_configured(settings, env))
    severity = ALIASES[args.severity]
    if args.json:
        res = table.route(facts[args.check], severity)
        print(json.dumps({"check": args.check, "severity": severity,
                          "routes": list(res.matched), "receivers": [
                              {"name": n, "kind": table.kinds.get(n)} for n in res.receivers]},
                         indent=2))
    else:
        print("\n".join(explain(table, facts[args.check], severity)))
    return ExitCode.OK
