"""A state store that holds what the status page must show: a failing check
whose page was delivered, a silenced one, one that could not run (UNKNOWN),
an OK one with a tags breakdown, one never run; a week of values for each.
Built through the real alert engine and history, at a fixed clock.
Also: the document's JSON schema (docs/status.schema.json), as a validator."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import Engine, update

from billing_monitor.alerting import history, silences
from billing_monitor.alerting.status_doc import build_document
from billing_monitor.alerting.tables import outbox
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.history import series_key
from tests.alerting_support import make_engine, options, result

NOW = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)  # a Thursday morning
SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "status.schema.json").read_text())


def validate(doc: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError naming the first field that is wrong."""
    Draft202012Validator(SCHEMA).validate(doc)


def check_options(hostile: str = "") -> dict[str, CheckOptions]:
    names = ["unbilled_orders", "refunds_pending", "stripe_sync", "invoices_sent", "never_ran"]
    return {f"{n}{hostile}": options(critical=10, warning=5) for n in names}


def week_of_values(store: Engine, checks: dict[str, CheckOptions], every_minutes: int = 15,
                   tags: tuple[str, ...] = ()) -> None:
    """A sawtooth for each check (peaking above the critical line) over 7 days."""
    with store.begin() as conn:
        for c, name in enumerate(n for n in checks if not n.startswith("never_ran")):
            for i in range(7 * 24 * 60 // every_minutes):
                at = NOW - timedelta(days=7) + timedelta(minutes=every_minutes * i)
                value = float((i + 7 * c) % 48) / 4
                history.record(conn, name, at, [(series_key(name, tags), value)])


def populate(store: Engine, hostile: str = "", error: str = "OperationalError: refused"
             ) -> dict[str, CheckOptions]:
    checks = check_options(hostile)
    names = list(checks)
    week_of_values(store, checks)
    engine = make_engine(store, checks, ["slack"])
    at = NOW - timedelta(minutes=3)
    engine.emit(result(names[0], 25.0, at, checks[names[0]]))  # CRIT, paged
    silences.add(store, names[1], at - timedelta(minutes=1), 120, f"migration{hostile}", "alice")
    engine.emit(result(names[1], 12.0, at, checks[names[1]]))  # CRIT, silenced
    unknown = result(names[2], None, at, checks[names[2]])
    engine.emit(replace(unknown, error=error))
    engine.emit(result(names[3], 1.0, at, checks[names[3]]))
    with store.begin() as conn:  # slack took the page for the first check
        conn.execute(update(outbox).where(outbox.c.dedup_key.contains(names[0]))
                     .values(delivered_at=at + timedelta(seconds=1), attempts=1))
    return checks


def document(store: Engine, checks: dict[str, CheckOptions], now: datetime = NOW
             ) -> dict[str, Any]:
    return build_document(store, checks, now)


def path_points(d: str | None) -> int:
    """How many points an SVG path of straight segments ("M x y l dx dy ...")
    passes through: its coordinate pairs."""
    return len(re.findall(r"-?\d+(?:\.\d+)?", d or "")) // 2
