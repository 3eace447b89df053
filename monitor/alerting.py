"""The alert engine, a Sink: for each check result it loads the check's alert
state, applies the check's policy and writes the new state, the last result
and the outbox rows the change causes, all in ONE transaction. Delivery is
the dispatcher's job (monitor/dispatcher.py).

Dedup keys (README "Alerting: dedup keys and policy"):
`{service}/{check}/{period}` for period-scoped checks, `{service}/{check}`
otherwise, `{service}/{check}/degraded` for "the monitor cannot run it".
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, select, text, update

from alerts.base import Notification
from checks.base import CheckOptions
from monitor import outbox
from monitor.policy import Event, Incident, Observation, Silence, Track, policy_for
from monitor.state import alerts, check_runs, silences, utc
from monitor.thresholds import Thresholds
from monitor.types import CheckResult, Status

log = logging.getLogger("billing_monitor.alerting")
SUMMARY_MAX = 1024  # PagerDuty Events API v2 limit


def dedup_key(service: str, check: str, period: str, period_scoped: bool) -> str:
    return f"{service}/{check}/{period}" if period_scoped else f"{service}/{check}"


def degraded_key(service: str, check: str) -> str:
    return f"{service}/{check}/degraded"


def recovered(result: CheckResult, opts: CheckOptions) -> bool:
    """Every value is back past the recovery level (True when none is set)."""
    level = opts.alert.recovery
    if level is None:
        return True
    back = Thresholds(warning=level, comparator=opts.thresholds.comparator)
    return all(back.evaluate(e.measurement.value)[0] is Status.OK for e in result.evaluations)


def _incident(row: Any) -> Incident:
    return Incident(row.dedup_key, bool(row.is_open), row.severity, utc(row.opened_at),
                    row.notified_severity, utc(row.last_notified_at))


def load_track(conn: Connection, check: str, main_key: str, deg_key: str) -> tuple[Track, int]:
    """The check's state and the sequence number of its current main key.
    Locks the check's state until commit (SQLite: BEGIN IMMEDIATE already
    did; PostgreSQL: a transaction-level advisory lock, which also covers a
    check's first run, when there is no row yet to lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": zlib.crc32(f"billing-monitor/{check}".encode())})
    row = conn.execute(
        select(alerts).where(alerts.c.check_name == check, alerts.c.kind == "status")
        .order_by(alerts.c.seq.desc()).limit(1).with_for_update()
    ).first()
    deg = conn.execute(select(alerts).where(alerts.c.dedup_key == deg_key)).first()
    degraded = _incident(deg) if deg else Incident(deg_key)
    if row is None:
        return Track(check, Incident(main_key), degraded), 0
    status = Status[row.status] if row.status else None
    return Track(check, _incident(row), degraded, status, utc(row.since), row.bad_count,
                 row.ok_count, row.unknown_count), int(row.seq)


def _save(conn: Connection, inc: Incident, check: str, kind: str, seq: int,
          at: datetime, track: Track | None) -> None:
    values: dict[str, Any] = dict(
        check_name=check, kind=kind, is_open=inc.open, severity=inc.severity,
        opened_at=utc(inc.opened_at), notified_severity=inc.notified,
        last_notified_at=utc(inc.last_notified_at), updated_at=utc(at), seq=seq,
    )
    if track is not None:
        values.update(status=track.status.label if track.status else None,
                      since=utc(track.since), bad_count=track.bad, ok_count=track.ok,
                      unknown_count=track.unknown)
    res = conn.execute(update(alerts).where(alerts.c.dedup_key == inc.key).values(**values))
    if res.rowcount == 0:
        conn.execute(alerts.insert().values(dedup_key=inc.key, **values))


def record_run(conn: Connection, result: CheckResult) -> None:
    worst = max(result.evaluations, key=lambda e: e.status, default=None)
    values = dict(
        status=result.status.label, started_at=utc(result.started_at),
        period=result.period.label, value=worst.measurement.value if worst else None,
        duration_s=result.duration_s, error=result.error, result=result.to_dict(),
    )
    res = conn.execute(update(check_runs).where(check_runs.c.check_name == result.check)
                       .values(**values))
    if res.rowcount == 0:
        conn.execute(check_runs.insert().values(check_name=result.check, **values))


def silenced(conn: Connection, configured: Sequence[Silence], check: str, at: datetime) -> bool:
    if any(s.covers(check, at) for s in configured):
        return True
    row = conn.execute(select(silences.c.id).where(
        silences.c.check_name.in_(("*", check)),
        and_(silences.c.starts_at <= utc(at), silences.c.until > utc(at)),
    ).limit(1)).first()
    return row is not None


class AlertEngine:
    """Sink that turns results into alert state and outbox rows."""

    name = "alerting"

    def __init__(
        self,
        engine: Engine,
        checks: Mapping[str, CheckOptions],
        channels: Sequence[str],
        *,
        service: str,
        env: str,
        source: str,
        silences: Sequence[Silence] = (),
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._on_queued = on_queued
        self._checks = checks
        self._channels = tuple(channels)
        self._service = service
        self._env = env
        self._source = source
        self._silences = tuple(silences)

    def emit(self, result: CheckResult) -> None:
        opts = self._checks[result.check]
        now = result.started_at
        main_key = dedup_key(self._service, result.check, result.period.label,
                             opts.alert.period_scoped)
        # With no notifier in this process (say, a manual run without the
        # secrets) notifications are held, not lost: see policy.py.
        obs = Observation(result.status, main_key, recovered(result, opts), now,
                          deliverable=bool(self._channels))
        with self._engine.begin() as conn:
            track, seq = load_track(conn, result.check,
                                    main_key, degraded_key(self._service, result.check))
            muted = silenced(conn, self._silences, result.check, now)
            out = policy_for(opts.alert).step(track, obs, muted)
            if out.superseded is not None:
                _save(conn, out.superseded, result.check, "status", seq, now, None)
            if out.track.main.key != track.main.key:
                seq += 1  # the new key is now the check's latest (load_track)
            _save(conn, out.track.main, result.check, "status", seq, now, out.track)
            _save(conn, out.track.degraded, result.check, "degraded", 0, now, None)
            record_run(conn, result)
            for ev in out.events:
                n = self.notification(ev, result, opts, out.track)
                outbox.enqueue(conn, n, self._channels, now)
                log.info("alert %s %s (%s) queued for %s", ev.action, ev.key, ev.reason,
                         ", ".join(self._channels) or "no channel")
        if out.events and self._channels:
            self._on_queued()  # committed: the daemon's delivery loop sends it now
        if muted and result.status is not Status.OK:
            log.info("check %s is silenced: state updated, no notification", result.check)
        if not self._channels and result.status is not Status.OK:
            log.warning("no notifier is configured in this process: alerts for %s are held "
                        "for a run that has one", result.check)

    def notification(self, ev: Event, result: CheckResult, opts: CheckOptions,
                     track: Track) -> Notification:
        details: dict[str, Any] = {
            "check": result.check, "status": result.status.label,
            "period": result.period.label, "reason": ev.reason, "env": self._env,
            "thresholds": opts.thresholds.describe(),
            "measurements": result.to_dict()["measurements"],
        }
        if result.error:
            details["error"] = result.error
        if opts.description:
            details["description"] = opts.description
        return Notification(
            action="resolve" if ev.action == "resolve" else "trigger",
            reason=ev.reason, dedup_key=ev.key, check=result.check, severity=ev.severity,
            summary=self._summary(ev, result, track)[:SUMMARY_MAX], source=self._source,
            occurred_at=utc(result.started_at), component=result.check, group=self._service,
            custom_details=details,
            links=((opts.runbook_url, "Runbook"),) if opts.runbook_url else (),
        )

    def _summary(self, ev: Event, result: CheckResult, track: Track) -> str:
        where = f"{self._service} {result.check}"
        if ev.kind == "degraded":
            if ev.action == "resolve":
                return f"RESOLVED: monitor degraded: {where} runs again"
            return (f"Monitor degraded: {where} could not run {track.unknown} times in a row: "
                    f"{result.error or 'unknown error'}")
        values = ", ".join(
            f"{e.measurement.name}={e.measurement.value:g}"
            + (f" ({e.status.label} {e.threshold})" if e.threshold else "")
            for e in result.evaluations
        ) or "no measurements"
        period = result.period.label
        if ev.action == "resolve":
            if ev.key != track.main.key:  # the period rolled over under an open incident
                return f"RESOLVED: {where}: period of {ev.key} ended (now {period}): {values}"
            return f"RESOLVED: {where} ({period}): {values}"
        return f"{ev.severity.upper()}: {where} ({period}): {values}"

    def retire_removed(self, now: datetime) -> list[str]:
        """Resolve the open incidents of checks no longer in the configuration:
        every trigger is eventually matched by a resolve, even when the check
        that raised it was deleted. Returns the dedup keys resolved."""
        resolved: list[str] = []
        if not self._channels:  # no notifier here: leave it to a process that has one
            return resolved
        with self._engine.begin() as conn:
            rows = conn.execute(select(alerts).where(
                alerts.c.is_open.is_(True), alerts.c.check_name.not_in(list(self._checks))
            )).all()
            for row in rows:
                conn.execute(update(alerts).where(alerts.c.dedup_key == row.dedup_key)
                             .values(is_open=False, updated_at=utc(now)))
                if row.notified_severity is not None:  # never sent: nothing to resolve
                    outbox.enqueue(conn, Notification(
                        action="resolve", reason="resolve", dedup_key=row.dedup_key,
                        check=row.check_name, severity=row.severity or "warning",
                        summary=f"RESOLVED: {self._service} {row.check_name}: the check was "
                                "removed from the configuration",
                        source=self._source, occurred_at=utc(now), component=row.check_name,
                        group=self._service,
                        custom_details={"check": row.check_name, "reason": "check removed"},
                    ), self._channels, now)
                resolved.append(row.dedup_key)
                log.info("alert %s resolved: check %s is no longer configured",
                         row.dedup_key, row.check_name)
        return resolved

    def close(self) -> None:
        return None


