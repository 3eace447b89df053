"""`billing-monitor status`: the last run of every check, open incidents and
the outbox, read from the state store (monitor/alerting/status.py)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from billing_monitor.alerting.status import read_status, status_json, status_text
from billing_monitor.clock import utc_now
from billing_monitor.commands.errors import ExitCode
from billing_monitor.commands.store import require_alerting, store_errors
from billing_monitor.settings.model import Settings


def cmd_status(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    alerting = require_alerting(settings, env)
    try:
        with store_errors(settings):
            report = read_status(alerting.store, utc_now(), settings.checks)
    finally:
        alerting.close()
    print(status_json(report) if args.json else status_text(report))
    return ExitCode.OK
