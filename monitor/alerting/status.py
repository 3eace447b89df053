"""`billing-monitor status`: what the state store knows: every check's last
run, value and status, the open incidents with their dedup keys, and the
outbox. Reads only; holds nothing secret to begin with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from billing_monitor.alerting import lease, outbox
from billing_monitor.alerting.tables import alerts, check_runs, source_incidents, utc
from billing_monitor.alerting.tables import outbox as outbox_table
from billing_monitor.tables import table


@dataclass(frozen=True)
class CheckRow:
    check: str
    status: str
    value: float | None
    period: str
    last_run: datetime
    error: str | None


@dataclass(frozen=True)
class IncidentRow:
    dedup_key: str
    check: str
    kind: str
    severity: str | None
    opened_at: datetime | None
    notified: bool  # a notification was queued for it
    pending: bool  # open but not notified yet (silenced, or held: no notifier)
    delivery: str = ""  # per channel, its latest notification: delivered, pending, dead


@dataclass(frozen=True)
class StatusReport:
    checks: list[CheckRow]
    incidents: list[IncidentRow]
    outbox: outbox.OutboxStats
    leader: str = ""  # who is the active instance (lease.py)


def read_status(engine: Engine, now: datetime, configured: Iterable[str] = ()) -> StatusReport:
    with engine.connect() as conn:
        runs = {r.check_name: r for r in conn.execute(select(check_runs)).all()}
        open_rows = conn.execute(
            select(alerts).where(alerts.c.is_open.is_(True)).order_by(alerts.c.dedup_key)
        ).all()
        sources = conn.execute(select(source_incidents).where(
            source_incidents.c.is_open.is_(True)).order_by(source_incidents.c.source)).all()
        delivery = _delivery(conn, [r.dedup_key for r in (*open_rows, *sources)])
        leader = _leader(conn)
    names = list(dict.fromkeys([*configured, *sorted(runs)]))
    checks = [
        CheckRow(n, runs[n].status, runs[n].value, runs[n].period, utc(runs[n].started_at),
                 runs[n].error)
        for n in names if n in runs
    ]
    never = [CheckRow(n, "NEVER RUN", None, "", datetime.min, None)
             for n in names if n not in runs]
    incidents = [
        IncidentRow(r.dedup_key, r.check_name, r.kind, r.severity, utc(r.opened_at),
                    r.notified_severity is not None, r.notified_severity is None,
                    delivery.get(r.dedup_key, ""))
        for r in open_rows
    ] + [  # one "source down" incident per source (alerting/sources.py)
        IncidentRow(r.dedup_key, f"source_{r.source}", "source", "error", utc(r.opened_at),
                    True, False, delivery.get(r.dedup_key, ""))
        for r in sources
    ]
    return StatusReport([*checks, *never], incidents, outbox.stats(engine, now), leader)


def _leader(conn: Connection) -> str:
    if conn.dialect.name != "postgresql":
        return "single instance (SQLite store, no lease)"
    found = lease.current(conn)
    if found is None:
        return "none yet (no instance has taken the lease)"
    term, live = found
    state = "held" if live else "LAPSED: no instance is active"
    return (f"{term.holder}, epoch {term.epoch}, lease until "
            f"{_when(term.expires_at)} ({state})")


def _delivery(conn: Connection, keys: list[str]) -> dict[str, str]:
    """What reached each channel: the state of its latest notification per key.
    "Queued" is not "paged": a PagerDuty outage shows here as pending."""
    if not keys:
        return {}
    rows = conn.execute(select(outbox_table).where(outbox_table.c.dedup_key.in_(keys))
                        .order_by(outbox_table.c.id)).all()
    latest: dict[str, dict[str, str]] = {}
    for row in rows:  # later rows replace earlier ones per channel
        if row.delivered_at is not None:
            state = "delivered"
        elif row.dead:
            state = "FAILED"
        else:
            state = f"pending ({row.attempts} attempts)" if row.attempts else "queued"
        latest.setdefault(row.dedup_key, {})[row.channel] = state
    return {k: ", ".join(f"{c}: {st}" for c, st in sorted(v.items())) for k, v in latest.items()}


def _when(dt: datetime | None) -> str:
    return "-" if dt is None or dt == datetime.min else dt.isoformat(timespec="seconds")


def status_text(report: StatusReport) -> str:
    rows = [[c.check, c.status, "-" if c.value is None else f"{c.value:g}", c.period or "-",
             _when(c.last_run), (c.error or "")[:60]] for c in report.checks]
    out = [table(["CHECK", "STATUS", "VALUE", "PERIOD", "LAST RUN", "ERROR"], rows), ""]
    if report.incidents:
        inc = [[i.dedup_key, i.severity or "-", _when(i.opened_at),
                (i.delivery or "queued") if i.notified else "not yet (silenced or held)"]
               for i in report.incidents]
        out.append(table(["OPEN INCIDENT (DEDUP KEY)", "SEVERITY", "SINCE", "NOTIFIED"], inc))
    else:
        out.append("No open incidents.")
    o = report.outbox
    out.append(f"\nOutbox: {o.depth} pending (oldest {o.oldest_age_seconds:.0f}s), "
               f"{o.dead} dead.")
    out.append(f"Leader: {report.leader}")
    return "\n".join(out)
