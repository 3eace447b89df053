"""`billing-monitor`: the command line. Parses it, reads the environment once
(the edge: systemd credentials loaded, secrets known to the log redactor) and
hands each subcommand its module in this folder: check, run, demo, validate,
status, silence, export, test-alert.

Exit codes (also in the README): 0 all OK, 1 a warning, 2 a critical, 3 a
check could not run, 64 bad command line, 70 internal error, 78 bad config.

Only the grammar (parser.py) is imported up front: each command imports what
it uses when it runs, so `--version` does not load SQLAlchemy, Stripe,
pydantic or the notifiers (docs/benchmarks.md section 8).
"""

from __future__ import annotations

import os
import sys

from billing_monitor.checks.errors import ConfigError
from billing_monitor.commands.errors import ExitCode, Unavailable, UsageError
from billing_monitor.commands.parser import build_parser, hoist_global_options

# typing.TYPE_CHECKING without importing typing, whose import costs start-up time
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

__all__ = ["build_parser", "hoist_global_options", "main", "run"]


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(hoist_global_options(sys.argv[1:] if argv is None
                                                          else argv))
    # The edge: the process environment is read here (and by `run` at a
    # reload) and handed down; nothing below reads os.environ.
    env = os.environ
    # Imported here, after parsing: `--version` and `--help` never get this far.
    from billing_monitor.logs import configure
    from billing_monitor.settings.credentials import load_credentials, secret_values

    if args.command != "run":  # the daemon configures its own from [logging]
        # Credentials from systemd (LoadCredential=) first, so that every
        # secret is known to the redacting log handler.
        load_credentials(env)
        configure("auto", args.log_level or "WARNING", secret_values(env), env=env)
    if args.command == "demo":
        from billing_monitor.commands.demo import cmd_demo

        return cmd_demo(args, env)
    from billing_monitor.settings.load import load_settings, resolve_config_path

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
        from pathlib import Path

        from billing_monitor.commands.export import cmd_export

        return cmd_export(settings, Path(args.out))
    if args.command == "check":
        from billing_monitor.commands.check import cmd_check

        return cmd_check(args, settings, env)
    if args.command == "status":
        from billing_monitor.commands.status import cmd_status

        return cmd_status(args, settings, env)
    if args.command == "silence":
        from billing_monitor.commands.silence import cmd_silence

        return cmd_silence(args, settings, env)
    if args.command == "backtest":
        from billing_monitor.commands.backtest import cmd_backtest

        return cmd_backtest(args, settings, env)
    if args.command == "route":
        from billing_monitor.commands.route import cmd_route

        return cmd_route(args, settings, env)
    if args.command == "test-alert":
        from billing_monitor.commands.send_test import cmd_test_alert

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
