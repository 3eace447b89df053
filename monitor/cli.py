"""`billing-monitor`: check, validate, demo, run, export.

Exit codes (also in the README): 0 all OK, 1 a warning, 2 a critical, 3 a
check could not run, 64 bad command line, 70 internal error, 78 bad config.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__, silences
from monitor.alerting_runtime import Alerting, AlertingUnavailable
from monitor.credentials import load_credentials, secret_values
from monitor.errors import ConfigError, ExitCode, UsageError
from monitor.logs import configure
from monitor.runner import describe_error, utc_now
from monitor.settings import Settings, load_settings, resolve_config_path
from monitor.status import read_status, status_json, status_text
from monitor.test_alert import add_test_alert_parser, cmd_test_alert
from monitor.wiring import open_alerting

log = logging.getLogger("billing_monitor")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class Unavailable(Exception):
    """A peer the command needs (the state store) is unreachable: exit 69."""


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
    silences.add_parser(sub)
    st = sub.add_parser("status", help="last run of every check, open incidents, outbox")
    st.add_argument("--json", action="store_true", help="machine-readable output")
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
    add_test_alert_parser(sub)
    return p


def _timestamp(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def redact_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def require_alerting(settings: Settings) -> Alerting:
    """The state store must be reachable: without it nothing can be shown."""
    alerting = open_alerting(settings)
    if isinstance(alerting, AlertingUnavailable):
        raise Unavailable(unavailable_message(settings, alerting.reason))
    return alerting


def unavailable_message(settings: Settings, reason: str) -> str:
    return f"state store {redact_url(settings.state.url)} is unavailable: {reason}"


def unwritable_message(settings: Settings, reason: str) -> str:
    return f"state store {redact_url(settings.state.url)} does not take writes: {reason}"


@contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """A store that refuses a read or a write is a peer that failed (69), not a bug."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise Unavailable(unwritable_message(settings, describe_error(exc))) from None


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    alerting = require_alerting(settings)
    try:
        with store_errors(settings):
            report = read_status(alerting.store, utc_now(), settings.checks)
    finally:
        alerting.close()
    print(status_json(report) if args.json else status_text(report))
    return ExitCode.OK


def cmd_silence(args: argparse.Namespace, settings: Settings) -> int:
    if args.check is None and args.end is None and not args.list:
        raise UsageError("silence: give a CHECK (with --reason), --list or --end ID")
    if args.check is not None and args.check != "*" and args.check not in settings.checks:
        raise UsageError(f"silence: unknown check {args.check!r}")
    if args.check is not None and not args.reason:
        raise UsageError("silence: --reason is required")
    if args.minutes <= 0:
        raise UsageError("silence: --minutes must be positive")
    alerting = require_alerting(settings)
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


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(hoist_global_options(sys.argv[1:] if argv is None
                                                          else argv))
    if args.command != "run":  # the daemon configures its own from [logging]
        # Credentials from systemd (LoadCredential=) first, so that every
        # secret is known to the redacting log handler.
        load_credentials(os.environ)
        configure("auto", args.log_level or "WARNING", secret_values(os.environ))
    if args.command == "demo":
        from monitor.demo_command import cmd_demo

        return cmd_demo(args)
    if args.command == "run":
        from monitor.service import serve

        return serve(resolve_config_path(args.config, os.environ), log_format=args.log_format,
                     log_level=args.log_level, run_now=args.run_now)
    settings = load_settings(resolve_config_path(args.config, os.environ))
    if args.command == "export":
        from monitor.export_datadog import cmd_export

        return cmd_export(settings, Path(args.out))
    if args.command == "check":
        from monitor.oneshot import cmd_check

        return cmd_check(args, settings)
    if args.command == "status":
        return cmd_status(args, settings)
    if args.command == "silence":
        return cmd_silence(args, settings)
    if args.command == "test-alert":
        return cmd_test_alert(args, settings)
    from monitor.validate_command import cmd_validate

    return cmd_validate(args, settings)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    try:
        code = run(argv)
    except ConfigError as exc:
        print("billing-monitor: configuration error:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        code = ExitCode.CONFIG
    except UsageError as exc:
        print(f"billing-monitor: {exc}", file=sys.stderr)
        code = ExitCode.USAGE
    except Unavailable as exc:
        print(f"billing-monitor: {exc}", file=sys.stderr)
        code = ExitCode.UNAVAILABLE
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `billing-monitor status | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141  # as a shell reports a process ended by SIGPIPE
    except Exception as exc:  # last resort: one line, no traceback, no secrets
        from monitor.runner import describe_error

        print(f"billing-monitor: internal error: {describe_error(exc)}", file=sys.stderr)
        code = ExitCode.SOFTWARE
    sys.exit(int(code))


if __name__ == "__main__":  # pragma: no cover
    main()
