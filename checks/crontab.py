"""Crontab expressions with crontab's meaning, on APScheduler 3.

Kept apart from the scheduler so that settings validation (checks/base.py)
parses a schedule exactly as the daemon will run it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# Any fixed instant: crontab has no year, so an expression that ever fires
# fires after this one (a fixed one keeps validation off the wall clock).
_REFERENCE = datetime(2001, 1, 1, tzinfo=UTC)
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(token: str) -> int:
    return _DAYS.index(token.lower()) if token.lower() in _DAYS else int(token) % 7


def crontab_day_of_week(field: str) -> str:
    """Crontab weekdays (0 or 7 = Sunday) as APScheduler 3 names.

    APScheduler 3 reads the numbers with 0 = Monday, so "30 5 * * 4" (Thursday
    in crontab, as in the source article) would run on Friday. Expanding every
    item to explicit day names keeps crontab's meaning."""
    days: list[int] = []
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = 0, 6
        elif "-" in base:
            lo, hi = base.split("-", 1)
            first, last = _day(lo), _day(hi) if hi != "7" else 7
        else:
            first = _day(base)
            last = 6 if step_text else first
        days.extend(d % 7 for d in range(first, last + 1, step))
    if sorted(set(days)) == list(range(7)):
        return "*"
    return ",".join(_DAYS[d] for d in sorted(set(days)))


def crontab_trigger(expr: str, timezone: ZoneInfo, jitter: int | None = None) -> CronTrigger:
    minute, hour, day, month, dow = expr.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=crontab_day_of_week(dow), timezone=timezone, jitter=jitter)


def validate_crontab(expr: str) -> str:
    """The expression, or ValueError saying what is wrong with it."""
    try:
        if len(expr.split()) != 5:
            raise ValueError("a crontab expression has 5 fields: minute hour day month weekday")
        trigger = crontab_trigger(expr, ZoneInfo("UTC"))
        if trigger.get_next_fire_time(None, _REFERENCE) is None:
            # e.g. "0 0 30 2 *": a check that never runs never alerts either.
            raise ValueError("it never fires (no such day in the months it names)")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return expr
