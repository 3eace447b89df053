"""`billing-monitor check`: the checks once, through every sink, alerts
delivered from the outbox, liveness pings around the run (as the source
article's cron job wrapped with Healthchecks.io). Exit 0/1/2/3 by the worst
status; 69 when the state store is unreachable (the checks still ran)."""

from __future__ import annotations

import argparse
import logging
import uuid
from collections.abc import Mapping

from sqlalchemy.exc import SQLAlchemyError

from billing_monitor.alerting.runtime import (
    AlertingUnavailable,
    unavailable_message,
    unwritable_message,
)
from billing_monitor.alerts.config import Secrets
from billing_monitor.alerts.notifiers import build_liveness
from billing_monitor.assembly import build_offline, build_wiring
from billing_monitor.checking.scrub import scrub_result
from billing_monitor.checks.contract import RunReport, Status
from billing_monitor.clock import utc_now
from billing_monitor.commands.errors import ExitCode, UsageError
from billing_monitor.commands.render import report_json, report_text
from billing_monitor.logs import Redactor, describe_error
from billing_monitor.settings.credentials import secret_values
from billing_monitor.settings.model import Settings

log = logging.getLogger("billing_monitor")


def cmd_check(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    unknown = [n for n in args.names if n not in settings.checks]
    if unknown:
        raise UsageError(
            f"unknown check(s): {', '.join(unknown)} (configured: {', '.join(settings.checks)})"
        )
    if args.at is not None:
        return _inspect(args, settings, env)
    # A driver's error may echo its input: no secret leaves in a result.
    scrub = Redactor(secret_values(env, settings.secret_envs())).scrub
    names = args.names or None
    wiring = build_wiring(settings, None, env, scrub=scrub, names=names)
    if isinstance(wiring.alerting, AlertingUnavailable):  # said in the run's own report
        wiring.alerting = AlertingUnavailable(
            unavailable_message(settings.state.url, wiring.alerting.reason))
    alerting = wiring.alerting
    liveness = build_liveness(settings, Secrets.from_env(env))
    rid = str(uuid.uuid4())
    liveness.start(rid)
    try:
        report = wiring.runner.run(names)
        report.results = [scrub_result(r, scrub) for r in report.results]
        # The alert engine failed to record a result: the store takes no writes.
        store_problem = next((e for s, c, e in report.sink_errors if s == "alerting"), None)
        drain_problem: str | None = None
        try:
            drained, _ = wiring.deliver(settings.outbox.drain_seconds, utc_now)
            for error in drained.errors:
                report.sink_errors.append(("alerting", "-", error))
        except SQLAlchemyError as exc:  # recorded, but the outbox failed under delivery
            drain_problem = describe_error(exc)
        if store_problem is not None:
            _store_error(report, unwritable_message(settings.state.url, store_problem)
                         + "; the alert state of this run was not recorded and nothing was "
                         "paged for it")
        elif drain_problem is not None:
            _store_error(report, unwritable_message(settings.state.url, drain_problem)
                         + "; the outbox failed during delivery: what this run sent may be "
                         "sent again by the next run")
        if report.worst is Status.UNKNOWN:
            liveness.fail(rid, "; ".join(f"{r.check}: {r.error}" for r in report.results
                                         if r.error))
        else:
            liveness.success(rid)
    finally:
        liveness.close()  # sends what is queued, within its short timeouts
        wiring.close()
    print(report_json(report) if args.json else report_text(report, settings))
    # A critical check wins (2): a wrapper paging on 2 must page; then 69.
    store_down = not alerting.available or bool(store_problem or drain_problem)
    if store_down and report.exit_code != Status.CRIT:
        return ExitCode.UNAVAILABLE
    return report.exit_code


def _store_error(report: RunReport, message: str) -> None:
    log.error("%s", message)
    report.sink_errors.append(("alerting", "-", message))


def _inspect(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    """`--at TIME`: judge another period and print it. Nothing is sent and no
    alert state changes: last week's numbers are not today's gauges, and a
    look at an old period must not resolve the current incident."""
    scrub = Redactor(secret_values(env, settings.secret_envs())).scrub
    names = args.names or None
    services, _, runner = build_offline(settings, env, lambda: args.at, names=names)
    try:
        report = runner.run(names)
    finally:
        services.close()
    report.results = [scrub_result(r, scrub) for r in report.results]
    print(report_json(report) if args.json else report_text(report, settings))
    return report.exit_code
