"""`billing-monitor backtest CHECK --from DATE --to DATE`: replay a payment_volume
check over the billing database's history and print every time it would have
alerted and resolved (checks/volume_replay.py). Nothing is sent or stored.

Exit 0 when the replay ran (whatever it found), 64 for a bad command line
(an unknown check, one that is not a payment_volume check, --to not after
--from), 3 when the check's query could not run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.contract import CheckContext
from billing_monitor.checks.payment_sql import SqlVolumeOptions, sql_opener
from billing_monitor.checks.period import current_period
from billing_monitor.checks.volume_replay import Replay, replay
from billing_monitor.commands.errors import ExitCode, UsageError
from billing_monitor.logs import Redactor, describe_error
from billing_monitor.settings.credentials import secret_values
from billing_monitor.settings.model import Settings


def _moment(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def cmd_backtest(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    options = settings.checks.get(args.check)
    if options is None:
        raise UsageError(f"unknown check: {args.check} (configured: {', '.join(settings.checks)})")
    if not isinstance(options, SqlVolumeOptions):
        raise UsageError(f"check {args.check} is of type {options.type}; backtest replays "
                         "payment_volume checks")
    zone = ZoneInfo(options.timezone)
    start, end = _moment(args.start, zone), _moment(args.end, zone)
    if end <= start:
        raise UsageError(f"--to ({end.isoformat()}) is not after --from ({start.isoformat()})")
    engine = open_engine(settings.database.url, timeout_s=args.timeout)
    ctx = CheckContext(current_period("iso_week", "UTC", start), start,
                       time.monotonic() + args.timeout)
    try:
        with sql_opener(args.check, engine, options.query)(ctx) as source:
            result = replay(source, options, start.astimezone(UTC), end.astimezone(UTC),
                            timedelta(minutes=args.step))
    except (ValueError, SQLAlchemyError) as exc:
        scrub = Redactor(secret_values(env)).scrub
        print(f"backtest {args.check}: {scrub(describe_error(exc))}")
        return ExitCode.UNKNOWN
    finally:
        engine.dispose()
    print(_json(result) if args.json else _text(args.check, result, zone))
    return ExitCode.OK


def _text(check: str, r: Replay, zone: ZoneInfo) -> str:
    lines = [f"{c.at.astimezone(zone):%Y-%m-%d %H:%M %Z}  {c.event.upper():7}  {c.currency}"
             + (f"  {c.detail}" if c.detail else "") for c in r.changes]
    alerts = sum(1 for c in r.changes if c.event == "alert")
    lines.append(f"{check}: {alerts} alert(s) over {r.runs} replayed runs"
                 + (f"; still alerting at the end: {', '.join(r.still_open)}"
                    if r.still_open else ""))
    if r.unknown:
        lines.append(f"{r.unknown} run(s) UNKNOWN: {r.unknown_reason}")
    return "\n".join(lines)


def _json(r: Replay) -> str:
    return json.dumps({
        "runs": r.runs, "unknown": r.unknown, "still_alerting": r.still_open,
        "changes": [{"at": c.at.isoformat(), "currency": c.currency, "event": c.event,
                     "detail": c.detail} for c in r.changes],
    }, indent=2)
