"""`billing-monitor silence`: mute a check's notifications for a while, in the
state store (the config's `[[silences]]` are for planned windows). A silenced
check still runs and its state is tracked; see README "Silences"."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from monitor.render import table
from monitor.state import silences, utc


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


def add_parser(sub: Any) -> None:
    """`sub` is the CLI's subparsers action (its parser class is private to the CLI)."""
    s = sub.add_parser("silence", help="mute a check's notifications for a while, list or end "
                       "silences")
    s.add_argument("check", nargs="?", metavar="CHECK", help="check name, or '*' for all")
    s.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    s.add_argument("--reason", help="why (required to add a silence)")
    s.add_argument("--by", default=None, help="who (default: the current user)")
    s.add_argument("--list", action="store_true", help="list active silences")
    s.add_argument("--end", type=int, metavar="ID", help="end a silence now")


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
