"""The status document: everything the status page shows, as plain JSON data
(`/api/status`, `billing-monitor status --json`; schema in
docs/status.schema.json). Every check with its status, values against their
thresholds, last and next run and error; 7 days of its values from the
measurement history with the thresholds; open incidents with their delivery
state per channel; silences; the outbox; the instances sharing the store.

Reads only. Holds nothing secret: check names, values, dedup keys, states.
Outbox errors are left out (a peer's answer may echo a URL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, func, select

from billing_monitor.alerting import history_bulk, lease
from billing_monitor.alerting import silences as silence_rows
from billing_monitor.alerting.status import read_status
from billing_monitor.alerting.tables import alerts, check_runs, outbox, utc
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.crontab import crontab_trigger
from billing_monitor.checks.policy import Silence
from billing_monitor.checks.thresholds import Thresholds
from billing_monitor.settings.model import Settings

SCHEMA = "billing-monitor/status/1"
WINDOW = timedelta(days=7)
POINTS = 169  # hourly: 7 days from the hour before, to now
REFRESH_SECONDS = 30
STALE_AFTER_SECONDS = 120  # four missed refreshes
ORDER = {"CRIT": 0, "UNKNOWN": 1, "WARN": 2, "NEVER RUN": 3, "OK": 4}


def iso(at: datetime | None) -> str | None:
    return None if at is None else utc(at).isoformat(timespec="seconds").replace("+00:00", "Z")


def _thresholds(t: Thresholds) -> dict[str, Any]:
    return {"warning": t.warning, "critical": t.critical, "comparator": t.comparator}


def _metric_of(key: str) -> tuple[str, list[str]]:
    tags = key.split(",") if key else []
    metric = next((t[len("metric:"):] for t in tags if t.startswith("metric:")), "")
    return metric, [t for t in tags if not t.startswith("metric:")]


@lru_cache(maxsize=256)
def _trigger(schedule: str, zone: ZoneInfo) -> CronTrigger:
    return crontab_trigger(schedule, zone)  # checks share a few schedules: built once


def _next_run(opts: CheckOptions, zone: ZoneInfo, now: datetime) -> str | None:
    return iso(_trigger(opts.schedule, zone).get_next_fire_time(None, now))


def _series(points: dict[str, list[list[float]]], opts: CheckOptions | None
            ) -> list[dict[str, Any]]:
    out = []
    for key, pts in points.items():
        metric, tags = _metric_of(key)
        limits = opts.thresholds_for(metric) if opts is not None else Thresholds()
        out.append({"metric": metric, "tags": tags, "thresholds": _thresholds(limits),
                    "points": pts})
    return out


def _check(name: str, run: Any, opts: CheckOptions | None, muted: bool, zone: ZoneInfo,
           now: datetime, points: dict[str, list[list[float]]]) -> dict[str, Any]:
    result = run.result if run is not None else {}
    values = [{"metric": m["name"], "tags": list(m["tags"]), "value": m["value"],
               "status": m["status"], "threshold": m["threshold"],
               "thresholds": _thresholds(opts.thresholds_for(m["name"]) if opts else
                                         Thresholds())}
              for m in result.get("measurements", [])]
    return {
        "name": name,
        "status": run.status if run is not None else "NEVER RUN",
        "silenced": muted,
        "configured": opts is not None,
        "period": run.period if run is not None else None,
        "last_run": iso(run.started_at) if run is not None else None,
        "next_run": _next_run(opts, zone, now) if opts is not None else None,
        "duration_s": run.duration_s if run is not None else None,
        "error": run.error if run is not None else None,
        "values": values,
        "series": _series(points, opts),
    }


def _delivery(engine: Engine, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per dedup key, per channel: the state of its latest notification."""
    if not keys:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.dedup_key, outbox.c.channel, outbox.c.attempts,
                                   outbox.c.delivered_at, outbox.c.dead)
                            .where(outbox.c.dedup_key.in_(keys)).order_by(outbox.c.id)).all()
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        state = "delivered" if r.delivered_at is not None else "failed" if r.dead else (
            "retrying" if r.attempts else "queued")
        latest.setdefault(r.dedup_key, {})[r.channel] = {
            "channel": r.channel, "state": state, "attempts": int(r.attempts)}
    return {k: [v[c] for c in sorted(v)] for k, v in latest.items()}


def _instances(engine: Engine) -> list[dict[str, Any]]:
    """Who shares the store: the owners that last wrote alert state, and who
    holds outbox deliveries in flight."""
    with engine.connect() as conn:
        owners = conn.execute(select(alerts.c.owner, func.max(alerts.c.updated_at))
                              .where(alerts.c.owner.is_not(None)).group_by(alerts.c.owner)
                              .order_by(alerts.c.owner)).all()
        claims: dict[str, int] = dict(conn.execute(select(outbox.c.claimed_by, func.count())
                                   .where(outbox.c.claimed_by.is_not(None),
                                          outbox.c.delivered_at.is_(None))
                                   .group_by(outbox.c.claimed_by)).all())
    return [{"owner": o, "last_seen": iso(seen), "deliveries_in_flight":
             sum(int(n) for holder, n in claims.items() if holder.startswith(o))}
            for o, seen in owners]


def leadership(engine: Engine, instance: Mapping[str, Any] | None) -> dict[str, Any]:
    """Who leads, from the lease row (lease.py), and what this instance is
    (`instance`: the daemon's own role; None from a command, which is no
    instance). SQLite: one instance, no lease."""
    with engine.connect() as conn:
        found = lease.current(conn) if conn.dialect.name == "postgresql" else None
        single = conn.dialect.name != "postgresql"
    term, live = found if found is not None else (None, False)
    return {
        "mode": "single" if single else "lease",
        "leader": term.holder if term is not None and live else None,
        "holder": term.holder if term is not None else None,
        "epoch": term.epoch if term is not None else None,
        "since": iso(term.since) if term is not None else None,
        "lease_until": iso(term.expires_at) if term is not None else None,
        "held": single or live,
        "this_instance": None if instance is None else {
            "holder": instance.get("holder"), "role": str(instance.get("role", "standby"))},
    }


def window_start(now: datetime) -> datetime:
    """7 days back, on the hour: the chart's points are then the stored hourly rows."""
    since = utc(now) - WINDOW
    return since.replace(minute=0, second=0, microsecond=0)


def build_document(engine: Engine, checks: Mapping[str, CheckOptions], now: datetime, *,
                   zone: str = "UTC", silences: Sequence[Silence] = (),
                   cache: history_bulk.WindowCache | None = None,
                   instance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`cache`: the daemon keeps one, so that a refresh reads only the last hours.
    `instance`: the daemon's role (leader or standby, its lease holder id)."""
    tz = ZoneInfo(zone)
    report = read_status(engine, now, checks)
    active = silence_rows.active(engine, now)
    since = window_start(now)
    with engine.connect() as conn:
        runs = {r.check_name: r for r in conn.execute(select(check_runs)).all()}
        names = list(dict.fromkeys([*checks, *sorted(runs)]))
        read = cache.window if cache is not None else history_bulk.window
        points = read(conn, names, since, utc(now), POINTS)

    def muted(name: str) -> bool:
        return any(s.covers(name, now) for s in silences) or any(
            s.check in ("*", name) for s in active)

    docs = [_check(n, runs.get(n), checks.get(n), muted(n), tz, now, points[n]) for n in names]
    docs.sort(key=lambda c: (ORDER.get(c["status"], 9), c["name"]))
    delivery = _delivery(engine, [i.dedup_key for i in report.incidents])
    incidents = [{
        "dedup_key": i.dedup_key, "check": i.check, "kind": i.kind, "severity": i.severity,
        "opened_at": iso(i.opened_at),
        "age_seconds": None if i.opened_at is None else
        max(0, int((utc(now) - utc(i.opened_at)).total_seconds())),
        "silenced": muted(i.check), "notified": i.notified,
        "delivery": delivery.get(i.dedup_key, []),
    } for i in report.incidents]
    o = report.outbox
    return {
        "schema": SCHEMA,
        "generated_at": iso(now),
        "refresh_seconds": REFRESH_SECONDS,
        "stale_after_seconds": STALE_AFTER_SECONDS,
        "window": {"since": iso(since), "until": iso(now), "points": POINTS},
        "overall": docs[0]["status"] if docs else "NEVER RUN",
        "checks": docs,
        "incidents": incidents,
        "silences": [{"id": s.id, "check": s.check, "starts_at": iso(s.starts_at),
                      "until": iso(s.until), "reason": s.reason, "created_by": s.created_by}
                     for s in active] + [
            {"id": None, "check": s.check, "starts_at": iso(s.start), "until": iso(s.end),
             "reason": s.reason, "created_by": "configuration"}
            for s in silences if s.start <= now < s.end],
        "outbox": {"depth": o.depth, "oldest_age_seconds": round(o.oldest_age_seconds, 1),
                   "dead": o.dead},
        "instances": _instances(engine),
        "leadership": leadership(engine, instance),
    }


def settings_document(engine: Engine, settings: Settings, now: datetime,
                      cache: history_bulk.WindowCache | None = None,
                      instance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document for this configuration's checks, schedules and silences."""
    return build_document(engine, settings.checks, now, zone=settings.daemon.timezone,
                          silences=settings.silences, cache=cache, instance=instance)


def document_json(doc: dict[str, Any]) -> str:
    # Strict JSON: a NaN never reaches the store (the runner makes it UNKNOWN).
    return json.dumps(doc, indent=2, allow_nan=False)
