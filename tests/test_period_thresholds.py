"""Business periods in a time zone, and generic threshold evaluation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from monitor.period import current_period
from monitor.thresholds import Thresholds
from monitor.types import Status


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
