"""Business periods: the billing week (ISO, Monday to Monday), a day or a
month, computed in the configured time zone so that a week that ends at
midnight in New York ends there, not in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from billing_monitor.checks.contract import Period

PeriodKind = Literal["iso_week", "day", "month"]


def _bounds(kind: PeriodKind, today: date) -> tuple[date, date, str]:
    if kind == "iso_week":
        start = today - timedelta(days=today.isoweekday() - 1)
        year, week, _ = today.isocalendar()
        return start, start + timedelta(days=7), f"{year}-W{week:02d}"
    if kind == "day":
        return today, today + timedelta(days=1), today.isoformat()
    start = today.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt, f"{start.year}-{start.month:02d}"


def current_period(kind: PeriodKind, tz: str, now: datetime, offset: int = 0) -> Period:
    """The period containing `now` (timezone-aware), shifted by `offset`
    periods (-1 is the previous billing week)."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    start, end, label = _bounds(kind, today)
    for _ in range(abs(offset)):
        start, end, label = _bounds(kind, start - timedelta(days=1) if offset < 0 else end)

    def at(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)

    return Period(label=label, start=start, end=end, start_at=at(start), end_at=at(end))
