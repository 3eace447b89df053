"""The measurement history as its readers see it (issues 13 and 14): points of
a check's values over time, and the Protocol a check or the status page is
handed to read them. The store behind it is billing_monitor.alerting.history;
with no store, NullHistory answers every series with nothing.

A series is identified by the check's name and a key that holds the
measurement's name and its tags: `series_key` ("metric:<name>" joined to the
tags, sorted, comma-separated), so that two measurements of one check never
share a series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_POINTS = 200


@dataclass(frozen=True)
class HistoryPoint:
    """One point of a series: a bucket, or several merged on read."""

    at: datetime  # start of the bucket, UTC
    tags: str  # the series key (series_key)
    value: float  # the last value recorded in it
    low: float
    high: float
    count: int  # how many values were recorded in it


class HistoryReader(Protocol):
    """Reads a check's series in [since, until): at most `max_points` points
    per series key, ordered by key then time."""

    def series(self, check: str, since: datetime, until: datetime,
               max_points: int = MAX_POINTS) -> list[HistoryPoint]: ...


class HistoryStore(HistoryReader, Protocol):
    """The history as a check is handed it: read, and back-filled where a check
    can reconstruct what it did not measure (stripe_payment_volume from
    Stripe's Events). `fill` writes `(time, series key, value)` only into
    buckets that hold nothing yet; it never overwrites a measured value."""

    def fill(self, check: str, values: Sequence[tuple[datetime, str, float]]) -> int: ...


class NullHistory:
    """No state store, no history: nothing read, nothing kept."""

    def series(self, check: str, since: datetime, until: datetime,
               max_points: int = MAX_POINTS) -> list[HistoryPoint]:
        return []

    def fill(self, check: str, values: Sequence[tuple[datetime, str, float]]) -> int:
        return 0


def tags_key(tags: Iterable[str]) -> str:
    """Tags in their canonical form: sorted, comma-joined ('' for none)."""
    return ",".join(sorted(tags))


def series_key(name: str, tags: Iterable[str] = ()) -> str:
    """The key of a measurement's series: its name as a `metric:` tag, and its tags."""
    return tags_key((f"metric:{name}", *tags))
