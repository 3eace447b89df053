"""Business periods in a time zone, and generic threshold evaluation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from billing_monitor.checks.contract import Status
from billing_monitor.checks.period import PeriodKind, current_period
from billing_monitor.checks.thresholds import Thresholds

pytestmark = pytest.mark.clock


def test_iso_week_bounds_and_label() -> None:
    p = current_period("iso_week", "UTC", datetime(2026, 11, 19, 5, 30, tzinfo=UTC))
    assert (p.label, p.start, p.end) == ("2026-W47", date(2026, 11, 16), date(2026, 11, 23))
    assert p.start_at == datetime(2026, 11, 16, tzinfo=UTC)


def test_iso_week_across_the_year_boundary() -> None:
    p = current_period("iso_week", "UTC", datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert (p.label, p.start, p.end) == ("2026-W53", date(2026, 12, 28), date(2027, 1, 4))


def test_time_zone_moves_the_boundary() -> None:
    sunday_night_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert current_period("iso_week", "UTC", sunday_night_utc).label == "2026-W47"
    berlin = current_period("iso_week", "Europe/Berlin", sunday_night_utc)
    assert berlin.label == "2026-W48"
    assert berlin.start_at == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    la = current_period("day", "America/Los_Angeles", datetime(2026, 11, 19, 5, tzinfo=UTC))
    assert la.label == "2026-11-18"


@pytest.mark.parametrize(("now", "zone", "label", "start_at", "hours"), [
    # ISO week 53 of 2026 runs into 2027; the ISO year, not the calendar year, names it.
    (datetime(2026, 12, 31, 12, tzinfo=UTC), "UTC", "2026-W53",
     datetime(2026, 12, 28, tzinfo=UTC), 168),
    (datetime(2027, 1, 3, 23, 59, 59, tzinfo=UTC), "UTC", "2026-W53",
     datetime(2026, 12, 28, tzinfo=UTC), 168),
    (datetime(2027, 1, 4, tzinfo=UTC), "UTC", "2027-W01", datetime(2027, 1, 4, tzinfo=UTC), 168),
    # The week of a DST change in Berlin: 167 hours in spring, 169 in autumn.
    (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), "Europe/Berlin", "2027-W12",
     datetime(2027, 3, 21, 23, tzinfo=UTC), 167),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Europe/Berlin", "2026-W43",
     datetime(2026, 10, 18, 22, tzinfo=UTC), 169),
    # New Year's Eve in New York is already 2027 in UTC.
    (datetime(2027, 1, 1, 4, 59, tzinfo=UTC), "America/New_York", "2026-W53",
     datetime(2026, 12, 28, 5, tzinfo=UTC), 168),
])
def test_iso_weeks_at_the_edges_of_the_calendar(
    now: datetime, zone: str, label: str, start_at: datetime, hours: int
) -> None:
    p = current_period("iso_week", zone, now)
    assert (p.label, p.start_at) == (label, start_at)
    assert (p.end_at - p.start_at).total_seconds() == hours * 3600


@pytest.mark.parametrize(("kind", "zone", "now", "label", "hours"), [
    ("day", "Europe/Berlin", datetime(2027, 3, 28, 12, tzinfo=UTC), "2027-03-28", 23),
    ("day", "Europe/Berlin", datetime(2026, 10, 25, 12, tzinfo=UTC), "2026-10-25", 25),
    ("day", "America/New_York", datetime(2027, 1, 1, 4, 59, tzinfo=UTC), "2026-12-31", 24),
    ("month", "America/New_York", datetime(2027, 1, 1, 4, 59, tzinfo=UTC), "2026-12", 31 * 24),
    ("month", "UTC", datetime(2027, 1, 1, tzinfo=UTC), "2027-01", 31 * 24),
    ("month", "Europe/Berlin", datetime(2027, 3, 15, tzinfo=UTC), "2027-03", 31 * 24 - 1),
])
def test_days_and_months_across_dst_and_new_year(
    kind: PeriodKind, zone: str, now: datetime, label: str, hours: int
) -> None:
    p = current_period(kind, zone, now)
    assert p.label == label
    assert (p.end_at - p.start_at).total_seconds() == hours * 3600


@pytest.mark.parametrize(("offset", "label"), [(0, "2026-11"), (-1, "2026-10"), (-11, "2025-12")])
def test_month_offsets(offset: int, label: str) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    assert current_period("month", "UTC", now, offset).label == label


def test_previous_week() -> None:
    p = current_period("iso_week", "UTC", datetime(2026, 11, 16, tzinfo=UTC), -1)
    assert (p.label, p.start, p.end) == ("2026-W46", date(2026, 11, 9), date(2026, 11, 16))


@pytest.mark.parametrize(("t", "value", "status"), [
    (Thresholds(critical=10), 10, Status.OK),
    (Thresholds(critical=10), 11, Status.CRIT),
    (Thresholds(warning=0, critical=10), 1, Status.WARN),
    (Thresholds(warning=0.05, critical=0.2, comparator=">="), 0.05, Status.WARN),
    (Thresholds(warning=100, critical=50, comparator="<"), 40, Status.CRIT),
    (Thresholds(warning=100, critical=50, comparator="<"), 80, Status.WARN),
    (Thresholds(warning=100, critical=50, comparator="<="), 100, Status.WARN),
    (Thresholds(), 1e9, Status.OK),
])
def test_evaluate(t: Thresholds, value: float, status: Status) -> None:
    assert t.evaluate(value)[0] is status


def test_levels_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValidationError, match="beyond critical"):
        Thresholds(warning=50, critical=100, comparator="<")
