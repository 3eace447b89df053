"""The command line's grammar: every subcommand and option, with nothing
imported that a command needs to run (argparse only), so that `--version`,
`--help` and a usage error cost the interpreter's start-up and no more
(docs/benchmarks.md section 8). Each command's module is imported by
cli.run() when that command runs."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from billing_monitor import __version__
from billing_monitor.commands.errors import UsageError

# typing.TYPE_CHECKING without importing typing, whose import costs start-up time
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

# `test-alert` targets (commands/send_test.py's TARGETS) and `route`'s severities
# (alerts/routing.py's ALIASES), spelled out here so that parsing imports neither
# (pydantic, the notifiers); tests/test_lazy_imports.py checks they agree.
TEST_ALERT_TARGETS = ("pagerduty", "chat", "liveness", "statsd", "receivers")
ROUTE_SEVERITIES = ("crit", "critical", "degraded", "warn", "warning")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="billing-monitor", description="Billing and payment health checks.")
    p.add_argument("--version", action="version", version=f"billing-monitor {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (default: $BILLING_MONITOR_"
                   "CONFIG, then /etc/billing-monitor/billing-monitor.toml)")
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="default WARNING (run: [logging].level)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("check", help="run checks once through all sinks; exit 0/1/2/3")
    c.add_argument("names", nargs="*", metavar="NAME", help="checks to run (default: all)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.add_argument("--at", type=_timestamp, metavar="TIME",
                   help="only print how the period containing this ISO 8601 time "
                   "(e.g. 2026-11-19T05:30Z) is judged: nothing is sent, no alert changes")
    s = sub.add_parser("silence", help="mute a check's notifications for a while, list or end "
                       "silences")
    s.add_argument("check", nargs="?", metavar="CHECK", help="check name, or '*' for all")
    s.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    s.add_argument("--reason", help="why (required to add a silence)")
    s.add_argument("--by", default=None, help="who (default: the current user)")
    s.add_argument("--list", action="store_true", help="list active silences")
    s.add_argument("--end", type=int, metavar="ID", help="end a silence now")
    st = sub.add_parser("status", help="last run of every check, open incidents, outbox")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    ro = sub.add_parser("route", help="show where an alert of CHECK at a severity would go")
    ro.add_argument("check", metavar="CHECK")
    ro.add_argument("--severity", required=True, choices=ROUTE_SEVERITIES,
                    help="crit (critical), warn (warning) or degraded (cannot run)")
    ro.add_argument("--json", action="store_true")
    b = sub.add_parser("backtest", help="replay a payment_volume check over history: "
                                        "when it would have alerted and resolved")
    b.add_argument("check", help="the name of a payment_volume check in the config")
    b.add_argument("--from", dest="start", type=_day_or_time, required=True,
                   help="first day (or time) to replay; a day starts at midnight in the "
                        "check's timezone")
    b.add_argument("--to", dest="end", type=_day_or_time, required=True,
                   help="day (or time) the replay stops before")
    b.add_argument("--step", type=int, default=1, choices=range(1, 61), metavar="MINUTES",
                   help="minutes between replayed runs (default 1, the check's default "
                        "schedule; trigger_after counts these runs)")
    b.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole replay")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    v = sub.add_parser("validate", help="validate the config and summarise checks and sinks")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--connect", action="store_true", help="also connect to the billing "
                   "database: plan every query, check the role can only read (exit 1: it "
                   "can write; 69: unreachable; 78: a query is refused)")
    d = sub.add_parser("demo", help="run the checks on an embedded demo billing database")
    d.add_argument("--dir", metavar="DIR", help="where to create the demo database "
                   "(default: a new temporary directory)")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    r = sub.add_parser("run", help="run the checks on their schedules until SIGTERM (the daemon)")
    r.add_argument("--log-format", choices=["auto", "json", "console"], default=None,
                   help="default [logging].format: JSON under journald or when not a terminal")
    r.add_argument("--run-now", action="store_true", help="also run every check once at start")
    e = sub.add_parser("export", help="write generated artefacts (Datadog dashboard, monitors)")
    e.add_argument("target", choices=["datadog"])
    e.add_argument("--out", metavar="DIR", default="deploy/datadog",
                   help="directory to write into (default: deploy/datadog)")
    t = sub.add_parser("test-alert", help="send a labelled test event through one sink, then "
                       "resolve it; exit 0 sent, 69 the peer failed, 78 not configured")
    t.add_argument("target", choices=TEST_ALERT_TARGETS)
    return p


def _day_or_time(value: str) -> date | datetime:
    try:
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or time: {value!r}") from None


def _timestamp(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


GLOBAL_OPTIONS = ("--config", "--log-level")


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """`billing-monitor validate --config F` works like `--config F validate`:
    the global options may stand anywhere on the command line."""
    front: list[str] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        arg = items[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_OPTIONS and i + 1 < len(items):
            front += [arg, items[i + 1]]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest
