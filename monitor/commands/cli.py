"""`billing-monitor`: the command line. Parses it, reads the environment once
(the edge: systemd credentials loaded, secrets known to the log redactor) and
hands each subcommand its module in this folder: check, run, demo, validate,
status, silence, export, test-alert.

Exit codes (also in the README): 0 all OK, 1 a warning, 2 a critical, 3 a
check could not run, 64 bad command line, 70 internal error, 78 bad config.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from billing_monitor import __version__
from billing_monitor.checks.errors import ConfigError
from billing_monitor.commands.errors import ExitCode, Unavailable, UsageError
from billing_monitor.commands.route import add_parser as add_route_parser
from billing_monitor.commands.send_test import add_test_alert_parser, cmd_test_alert
from billing_monitor.commands.silence import add_parser as add_silence_parser
from billing_monitor.commands.silence import cmd_silence
from billing_monitor.commands.status import add_parser as add_status_parser
from billing_monitor.commands.status import cmd_status
from billing_monitor.logs import configure
from billing_monitor.settings.credentials import load_credentials, secret_values
from billing_monitor.settings.load import load_settings, resolve_config_path

log = logging.getLogger("billing_monitor")


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
    add_silence_parser(sub)
    add_status_parser(sub)
    add_route_parser(sub)
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
    # The edge: the process environment is read here (and by `run` at a
    # reload) and handed down; nothing below reads os.environ.
    env = os.environ
    if args.command != "run":  # the daemon configures its own from [logging]
        # Credentials from systemd (LoadCredential=) first, so that every
        # secret is known to the redacting log handler.
        load_credentials(env)
        configure("auto", args.log_level or "WARNING", secret_values(env), env=env)
    if args.command == "demo":
        from billing_monitor.commands.demo import cmd_demo

        return cmd_demo(args, env)
    if args.command == "run":
        from billing_monitor.commands.run import serve

        return serve(resolve_config_path(args.config, env), env, log_format=args.log_format,
                     log_level=args.log_level, run_now=args.run_now)
    settings = load_settings(resolve_config_path(args.config, env), env)
    if load_credentials(env, settings.secret_credentials()):  # the receivers' own secrets
        settings = load_settings(resolve_config_path(args.config, env), env)
    if settings.receivers:
        configure("auto", args.log_level or "WARNING",
                  secret_values(env, settings.secret_envs()), env=env)
    if args.command == "export":
        from billing_monitor.commands.export import cmd_export

        return cmd_export(settings, Path(args.out))
    if args.command == "check":
        from billing_monitor.commands.check import cmd_check

        return cmd_check(args, settings, env)
    if args.command == "status":
        return cmd_status(args, settings, env)
    if args.command == "silence":
        return cmd_silence(args, settings, env)
    if args.command == "route":
        from billing_monitor.commands.route import cmd_route

        return cmd_route(args, settings, env)
    if args.command == "test-alert":
        return cmd_test_alert(args, settings, env)
    from billing_monitor.commands.validate import cmd_validate

    return cmd_validate(args, settings, env)


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
        from billing_monitor.logs import describe_error

        print(f"billing-monitor: internal error: {describe_error(exc)}", file=sys.stderr)
        code = ExitCode.SOFTWARE
    sys.exit(int(code))


if __name__ == "__main__":  # pragma: no cover
    main()
