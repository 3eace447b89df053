"""`billing-monitor silence`: mute a check's notifications for a while, list
or end silences (stored in the state store, monitor/alerting/silences.py)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from billing_monitor.alerting import silences
from billing_monitor.clock import utc_now
from billing_monitor.commands.errors import ExitCode, UsageError
from billing_monitor.commands.store import require_alerting, store_errors
from billing_monitor.settings.model import Settings


def cmd_silence(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    if args.check is None and args.end is None and not args.list:
        raise UsageError("silence: give a CHECK (with --reason), --list or --end ID")
    if args.check is not None and args.check != "*" and args.check not in settings.checks:
        raise UsageError(f"silence: unknown check {args.check!r}")
    if args.check is not None and not args.reason:
        raise UsageError("silence: --reason is required")
    if args.minutes <= 0:
        raise UsageError("silence: --minutes must be positive")
    alerting = require_alerting(settings, env)
    now = utc_now()
    try:
        with store_errors(settings):
            if args.end is not None:
                if not silences.end(alerting.store, args.end, now):
                    raise UsageError(f"silence: no active silence with id {args.end}")
                print(f"Silence {args.end} ended: its checks alert again from their next run.")
            if args.check is not None:
                sid = silences.add(alerting.store, args.check, now, args.minutes, args.reason,
                                   args.by or silences.who())
                print(f"Silence {sid}: {args.check} muted for {args.minutes:g} minutes.")
            print(silences.render(silences.active(alerting.store, now)))
    finally:
        alerting.close()
    return ExitCode.OK
