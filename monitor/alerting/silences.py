"""`billing-monitor silence`: mute a check's notifications for a while, in the
state store (the config's `[[silences]]` are for planned windows). A silenced
check still runs and its state is tracked; see README "Silences"."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from billing_monitor.alerting.tables import silences, utc
from billing_monitor.tables import table


@dataclass(frozen=True)
class SilenceRow:
    id: int
    check: str
    starts_at: datetime
    until: datetime
    reason: str
    created_by: str


def add(engine: Engine, check: str, now: datetime, minutes: float, reason: str,
        by: str) -> int:
    with engine.begin() as conn:
        res = conn.execute(silences.insert().values(
            check_name=check, starts_at=utc(now), until=utc(now + timedelta(minutes=minutes)),
            reason=reason, created_by=by[:64]))
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def end(engine: Engine, silence_id: int, now: datetime) -> bool:
    with engine.begin() as conn:
        res = conn.execute(update(silences)
                           .where(silences.c.id == silence_id, silences.c.until > utc(now))
                           .values(until=utc(now)))
        return res.rowcount == 1


def active(engine: Engine, now: datetime) -> list[SilenceRow]:
    with engine.connect() as conn:
        rows = conn.execute(select(silences).where(silences.c.until > utc(now))
                            .order_by(silences.c.id)).all()
    return [SilenceRow(r.id, r.check_name, utc(r.starts_at), utc(r.until), r.reason,
                       r.created_by) for r in rows]


def render(rows: list[SilenceRow]) -> str:
    if not rows:
        return "No active silences (the config's [[silences]] are not listed here)."
    return table(["ID", "CHECK", "FROM", "UNTIL", "BY", "REASON"], [
        [str(r.id), r.check, r.starts_at.isoformat(timespec="minutes"),
         r.until.isoformat(timespec="minutes"), r.created_by, r.reason] for r in rows])


def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
