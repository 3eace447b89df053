"""`billing-monitor status`: the last run of every check, open incidents and
the outbox, read from the state store (monitor/alerting/status.py)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from billing_monitor.alerting.status import read_status, status_text
from billing_monitor.alerting.status_doc import document_json, settings_document
from billing_monitor.clock import utc_now
from billing_monitor.commands.errors import ExitCode
from billing_monitor.commands.store import require_alerting, store_errors
from billing_monitor.settings.model import Settings


def cmd_status(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    alerting = require_alerting(settings, env)
    now = utc_now()
    try:
        with store_errors(settings):
            if args.json:  # the document /api/status serves (docs/status.schema.json)
                out = document_json(settings_document(alerting.store, settings, now))
            else:
                out = status_text(read_status(alerting.store, now, settings.checks))
    finally:
        alerting.close()
    print(out)
    return ExitCode.OK
