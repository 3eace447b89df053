"""The alert engine's rows in the state store: a check's alert state (its two
incidents and streak counters), its last run and its values (into the
measurement history), and the silences that mute it. Every function works on
the caller's connection, inside its transaction.

The statements run for every check result are built once, here, with bound
parameters: building them per call (`.where(col == value).values(**row)`) cost
more CPU than the database did (docs/benchmarks.md section 8)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from billing_monitor.alerting import history
from billing_monitor.alerting.policy import Incident, Track
from billing_monitor.alerting.tables import alerts, check_runs, silences, utc
from billing_monitor.checks.contract import CheckResult, Status
from billing_monitor.checks.history import series_key
from billing_monitor.checks.policy import Silence
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.state")


def channels_of(value: str | None) -> frozenset[str]:
    return frozenset(c for c in (value or "").split(",") if c)


def _incident(row: Any) -> Incident:
    return Incident(row.dedup_key, bool(row.is_open), row.severity, utc(row.opened_at),
                    row.notified_severity, utc(row.last_notified_at),
                    channels_of(row.notified_channels))


_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_LATEST = (select(alerts).where(alerts.c.check_name == bindparam("b_check"),
                                alerts.c.kind == "status")
           .order_by(alerts.c.seq.desc()).limit(1).with_for_update())
_BY_KEY = select(alerts).where(alerts.c.dedup_key == bindparam("b_key"))
_UPDATE = update(alerts).where(alerts.c.dedup_key == bindparam("b_key"))
_UPDATE_RUN = update(check_runs).where(check_runs.c.check_name == bindparam("b_check"))
_SILENCED = select(silences.c.id).where(
    or_(silences.c.check_name == "*", silences.c.check_name == bindparam("b_check")),
    silences.c.starts_at <= bindparam("b_at"), silences.c.until > bindparam("b_at"),
).limit(1)


def load_track(conn: Connection, check: str, main_key: str, deg_key: str,
               owner: str | None = None) -> tuple[Track, int, bool]:
    """The check's state, the sequence number of its current main key, and
    whether the degraded incident is stored as loaded with `owner` (then an
    unchanged one need not be written again). Locks the check's state until
    commit (SQLite: BEGIN IMMEDIATE already did; PostgreSQL: a transaction-level
    advisory lock, which also covers a check's first run, when there is no row
    yet to lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"k": zlib.crc32(f"billing-monitor/{check}".encode())})
    row = conn.execute(_LATEST, {"b_check": check}).first()
    deg = conn.execute(_BY_KEY, {"b_key": deg_key}).first()
    degraded = _incident(deg) if deg else Incident(deg_key)
    stored = deg is not None and deg.owner == owner and deg.check_name == check
    if row is None:
        return Track(check, Incident(main_key), degraded), 0, stored
    status = Status[row.status] if row.status else None
    return Track(check, _incident(row), degraded, status, utc(row.since), row.bad_count,
                 row.ok_count, row.unknown_count), int(row.seq), stored


def save(conn: Connection, inc: Incident, check: str, kind: str, seq: int, at: datetime,
         track: Track | None, owner: str) -> None:
    values: dict[str, Any] = dict(
        check_name=check, kind=kind, is_open=inc.open, severity=inc.severity,
        opened_at=utc(inc.opened_at), notified_severity=inc.notified,
        last_notified_at=utc(inc.last_notified_at), updated_at=utc(at), seq=seq,
        notified_channels=",".join(sorted(inc.channels)) or None, owner=owner,
    )
    if track is not None:
        values.update(status=track.status.label if track.status is not None else None,
                      since=utc(track.since), bad_count=track.bad, ok_count=track.ok,
                      unknown_count=track.unknown)
    res = conn.execute(_UPDATE, {"b_key": inc.key, **values})
    if res.rowcount == 0:
        conn.execute(alerts.insert().values(dedup_key=inc.key, **values))


def record_run(conn: Connection, result: CheckResult) -> None:
    worst = max(result.evaluations, key=lambda e: e.status, default=None)
    values = dict(
        status=result.status.label, started_at=utc(result.started_at),
        period=result.period.label, value=worst.measurement.value if worst else None,
        duration_s=result.duration_s, error=result.error, result=result.to_dict(),
    )
    res = conn.execute(_UPDATE_RUN, {"b_check": result.check, **values})
    if res.rowcount == 0:
        conn.execute(check_runs.insert().values(check_name=result.check, **values))
    record_history(conn, result)


def record_history(conn: Connection, result: CheckResult) -> bool:
    """The run's values into the measurement history, inside a SAVEPOINT of
    the run's transaction: if the history refuses them (a full disk, a broken
    table), only that part is rolled back and logged; the alert state and the
    outbox rows of the run still commit. A chart with a gap beats an
    unrecorded page. False: not written."""
    try:
        with conn.begin_nested():
            history.record(conn, result.check, utc(result.started_at), [
                (series_key(m.name, m.tags), m.value) for m in result.measurements])
    except SQLAlchemyError as exc:
        log.error("measurement history not written for %s (its alert state is): %s",
                  result.check, describe_error(exc))
        return False
    return True


def prune_history(conn: Connection, now: datetime) -> None:
    """The history's old buckets go, in a SAVEPOINT like record_history's."""
    try:
        with conn.begin_nested():
            history.prune(conn, now)
    except SQLAlchemyError as exc:
        log.error("measurement history not pruned: %s", describe_error(exc))


def silenced(conn: Connection, configured: Sequence[Silence], check: str, at: datetime) -> bool:
    if any(s.covers(check, at) for s in configured):
        return True
    return conn.execute(_SILENCED, {"b_check": check, "b_at": utc(at)}).first() is not None


def removed_open(conn: Connection, configured: Sequence[str], owner: str) -> list[Any]:
    """Open incidents of checks this configuration no longer has. Only its
    own: a row another configuration sharing the store (another host) last
    wrote is that one's business. Rows from before owners were kept (NULL)
    count as everyone's, as they did then."""
    return list(conn.execute(select(alerts).where(
        alerts.c.is_open.is_(True), alerts.c.check_name.not_in(list(configured)),
        or_(alerts.c.owner == owner, alerts.c.owner.is_(None)),
    )).all())


def forget(conn: Connection, check: str, at: datetime) -> None:
    """A retired check starts afresh if it comes back: closed, never notified,
    no streak (so a check put back while still failing alerts again)."""
    conn.execute(update(alerts).where(alerts.c.check_name == check).values(
        is_open=False, notified_severity=None, last_notified_at=None, notified_channels=None,
        status=None, since=None, bad_count=0, ok_count=0, unknown_count=0, updated_at=utc(at)))
