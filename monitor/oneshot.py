"""`billing-monitor check`: the checks once, through every sink, alerts
delivered from the outbox, liveness pings around the run (as the source
article's cron job wrapped with Healthchecks.io). Exit 0/1/2/3 by the worst
status; 69 when the state store is unreachable (the checks still ran)."""

from __future__ import annotations

import argparse
import logging
import os
import uuid

from sqlalchemy.exc import SQLAlchemyError

from alerts.config import Secrets
from alerts.notifiers import build_liveness
from alerts.statsd import StatsdClient
from monitor.alerting_runtime import AlertingUnavailable
from monitor.app import AppServices, base_tags, build_runner, build_sinks
from monitor.cli import unavailable_message, unwritable_message
from monitor.credentials import secret_values
from monitor.errors import ExitCode, UsageError
from monitor.logs import Redactor
from monitor.render import report_json, report_text
from monitor.runner import describe_error, utc_now
from monitor.settings import Settings
from monitor.types import Sink, Status
from monitor.wiring import ScrubbingSink, open_alerting, scrub_result

log = logging.getLogger("billing_monitor")


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    unknown = [n for n in args.names if n not in settings.checks]
    if unknown:
        raise UsageError(
            f"unknown check(s): {', '.join(unknown)} (configured: {', '.join(settings.checks)})"
        )
    if args.at is not None:
        return _inspect(args, settings)
    # A driver's error may echo its input: no secret leaves in a result.
    scrub = Redactor(secret_values(os.environ)).scrub
    services = AppServices(settings)
    alerting = open_alerting(settings)
    if isinstance(alerting, AlertingUnavailable):  # the checks' metrics are still worth sending
        alerting = AlertingUnavailable(unavailable_message(settings, alerting.reason))
        log.error("%s; checks run without alerting", alerting.reason)
    clients: list[StatsdClient] = []

    def keep(client: StatsdClient) -> StatsdClient:
        clients.append(client)
        return client

    built = build_sinks(settings, wrap_statsd=keep, extra=[alerting.sink])
    sinks: list[Sink] = [ScrubbingSink(s, scrub) for s in built]
    liveness = build_liveness(settings, Secrets.from_env(os.environ))
    rid = str(uuid.uuid4())
    liveness.start(rid)
    store_problem: str | None = None
    try:
        names = args.names or None
        report = build_runner(settings, services, sinks, names=names).run(names)
        report.results = [scrub_result(r, scrub) for r in report.results]
        # The alert engine failed to record a result: the store takes no writes.
        store_problem = next((e for s, c, e in report.sink_errors if s == "alerting"), None)
        try:
            drained = alerting.drain(settings.outbox.drain_seconds)
            for error in drained.errors:
                report.sink_errors.append(("alerting", "-", error))
            tags = [*base_tags(settings), *settings.statsd.tags]
            alerting.publish(clients, settings.statsd.namespace, tags, utc_now())
        except SQLAlchemyError as exc:
            store_problem = store_problem or describe_error(exc)
        if store_problem is not None:
            message = (unwritable_message(settings, store_problem) + "; the alert state of "
                       "this run was not recorded and nothing was paged for it")
            log.error("%s", message)
            report.sink_errors.append(("alerting", "-", message))
        if report.worst is Status.UNKNOWN:
            liveness.fail(rid, "; ".join(f"{r.check}: {r.error}" for r in report.results
                                         if r.error))
        else:
            liveness.success(rid)
    finally:
        liveness.close()  # sends what is queued, within its short timeouts
        for sink in sinks:
            sink.close()
        alerting.close()
        services.close()
    print(report_json(report) if args.json else report_text(report, settings))
    # A critical check wins (2): a wrapper paging on 2 must page; then 69.
    if (not alerting.available or store_problem) and report.exit_code != Status.CRIT:
        return ExitCode.UNAVAILABLE
    return report.exit_code


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    """`--at TIME`: judge another period and print it. Nothing is sent and no
    alert state changes: last week's numbers are not today's gauges, and a
    look at an old period must not resolve the current incident."""
    scrub = Redactor(secret_values(os.environ)).scrub
    services = AppServices(settings)
    try:
        names = args.names or None
        report = build_runner(settings, services, [], lambda: args.at, names).run(names)
    finally:
        services.close()
    report.results = [scrub_result(r, scrub) for r in report.results]
    print(report_json(report) if args.json else report_text(report, settings))
    return report.exit_code
