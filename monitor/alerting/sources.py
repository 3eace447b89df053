"""One "source down" incident per source, instead of one "monitor degraded"
alert per check that reads it (README "One page when a source is down").
Keys: `{service}/source/database`, `{service}/source/stripe`.

For a result that could not reach source S (`result.unreachable == S`):
once the check has failed as often as its `degraded_after` asks (when its own
degraded alert would open), S's incident opens if it is not open (one
trigger), and the check's degraded alert is held while S's incident is open.
A result from a check that reads S and could run resolves S's incident: S
answered. A check still failing after that has its degraded alert sent then.

Rows live in `source_incidents`, changed in the transaction of the result
that changes them, under a per-source lock on PostgreSQL (SQLite: BEGIN
IMMEDIATE already serialises writers). The trigger goes wherever the routes
send a degraded alert of any check that reads S; the resolve, where it went."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text, update

from billing_monitor.alerting.rows import channels_of
from billing_monitor.alerting.tables import source_incidents, utc
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult

SUMMARY_MAX = 1024
# (check, "critical" | "warning" | "degraded") -> the receivers its alerts go to
Router = Callable[[str, str], Sequence[str]]


def source_key(service: str, source: str) -> str:
    return f"{service}/source/{source}"


@dataclass(frozen=True)
class SourceRow:
    source: str
    open: bool
    checks: frozenset[str]
    channels: frozenset[str]
    opened_at: datetime | None


def _load(conn: Connection, source: str, lock: bool) -> SourceRow:
    if lock and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": zlib.crc32(f"billing-monitor/source/{source}".encode())})
    row = conn.execute(select(source_incidents)
                       .where(source_incidents.c.source == source)).first()
    if row is None:
        return SourceRow(source, False, frozenset(), frozenset(), None)
    return SourceRow(source, bool(row.is_open), channels_of(row.checks),
                     channels_of(row.notified_channels), utc(row.opened_at))


def _save(conn: Connection, key: str, r: SourceRow, at: datetime) -> None:
    values: dict[str, Any] = dict(
        dedup_key=key, is_open=r.open, opened_at=utc(r.opened_at),
        checks=",".join(sorted(r.checks)) or None,
        notified_channels=",".join(sorted(r.channels)) or None, updated_at=utc(at))
    res = conn.execute(update(source_incidents)
                       .where(source_incidents.c.source == r.source).values(**values))
    if res.rowcount == 0:
        conn.execute(source_incidents.insert().values(source=r.source, **values))


def summary(service: str, r: SourceRow, error: str | None, readers: Sequence[str]) -> str:
    """`readers`: every check that reads the source (none of them can run)."""
    if not r.open:
        return f"RESOLVED: source down: {service} reaches the {r.source} again"
    names = sorted(readers)
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    out = f"Source down: {service} cannot reach the {r.source} ({shown} cannot run)"
    out += f": {error}" if error else ""
    return out if len(out) <= SUMMARY_MAX else out[: SUMMARY_MAX - 1] + "…"


class Sources:
    def __init__(self, checks: Mapping[str, CheckOptions], route: Router, *, service: str,
                 env: str, source: str) -> None:
        self._checks, self._route = checks, route
        self._service, self._env, self._host = service, env, source

    def observe(self, conn: Connection, result: CheckResult, unknown_runs: int,
                hold: bool) -> tuple[bool, list[tuple[Notification, list[str]]]]:
        """(whether the check's degraded alert is held, what to queue where).
        `unknown_runs`: the check's UNKNOWN streak including this result;
        `hold`: notifications are held anyway (silenced, no notifier)."""
        opts = self._checks[result.check]
        down, held, out = result.unreachable, False, []
        for source in sorted(opts.sources() | ({down} if down else set())):
            r = _load(conn, source, lock=False)
            due = down == source and unknown_runs >= opts.alert.degraded_after
            if not (due or (down == source and r.open) or (down is None and r.open)):
                continue
            r = _load(conn, source, lock=True)  # again, under the lock
            key = source_key(self._service, source)
            if down == source and r.open:
                held = True
                r = SourceRow(source, True, r.checks | {result.check}, r.channels, r.opened_at)
            elif due and not hold:
                held = True
                targets = self._targets(source)
                r = SourceRow(source, True, frozenset({result.check}), frozenset(targets),
                              result.started_at)
                out.append((self._note(key, r, result, "trigger"), targets))
            elif down is None and r.open:
                out.append((self._note(key, SourceRow(source, False, r.checks, r.channels,
                                                      r.opened_at), result, "resolve"),
                            sorted(r.channels)))
                r = SourceRow(source, False, frozenset(), frozenset(), None)
            else:
                continue
            _save(conn, key, r, result.started_at)
        return held, out

    def _targets(self, source: str) -> list[str]:
        """Wherever a degraded alert of a check reading the source would go."""
        out: list[str] = []
        for name in self._readers(source):
            out += [c for c in self._route(name, "degraded") if c not in out]
        return out

    def _readers(self, source: str) -> list[str]:
        return [name for name, opts in self._checks.items() if source in opts.sources()]

    def _note(self, key: str, r: SourceRow, result: CheckResult, action: str) -> Notification:
        return Notification(
            action="resolve" if action == "resolve" else "trigger",
            reason="resolve" if action == "resolve" else "degraded", dedup_key=key,
            check=f"source_{r.source}", severity="error",
            summary=summary(self._service, r, result.error, self._readers(r.source)),
            source=self._host,
            occurred_at=utc(result.started_at), component=r.source, group=self._service,
            custom_details={"source": r.source, "checks": self._readers(r.source),
                            "found_by": sorted(r.checks), "env": self._env,
                            **({"error": result.error} if result.error else {})})
