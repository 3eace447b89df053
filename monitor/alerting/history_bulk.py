"""Every check's series of one window in ONE read, for the status page: 200
checks' 7-day charts in one query of the hourly rows instead of 200 queries
(docs/benchmarks.md, section 9). Points come as the status document wants
them: [epoch seconds, last, low, high], no datetime built per point."""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Connection, Integer, MetaData, select

from billing_monitor.alerting.history import (
    bucket_of,
    define_history,
    epoch_seconds,
    resolution_for,
    series,
    width_for,
)
from billing_monitor.checks.history import MAX_POINTS

Points = dict[str, dict[str, list[list[float]]]]  # check -> series key -> points
_m = define_history(MetaData())


def window(conn: Connection, checks: Collection[str], since: datetime, until: datetime,
           max_points: int = MAX_POINTS) -> Points:
    """The series of `checks` in [since, until), at most `max_points` per
    series. One query when the points are stored rows (`since` on a boundary
    of the resolution that fits); otherwise one merged read per check."""
    start = bucket_of(since)
    width = width_for(start, until, max_points)
    res = resolution_for(start, width)
    out: Points = {c: {} for c in checks}
    if width != res:
        for check in checks:
            for p in series(conn, check, since, until, max_points):
                out[check].setdefault(p.tags, []).append(
                    [int(p.at.timestamp()), p.value, p.low, p.high])
        return out
    return _plain(conn, checks, start, until, res)


def _plain(conn: Connection, checks: Collection[str], start: datetime, until: datetime,
           res: int) -> Points:
    """The stored rows of resolution `res` as they are, one query."""
    out: Points = {c: {} for c in checks}
    at = epoch_seconds(conn, _m.c.bucket_start).cast(Integer)
    rows = conn.execute(
        select(_m.c.check_name, _m.c.tags, at, _m.c["last"], _m.c["min"], _m.c["max"])
        # the checks by name: a range of the primary key each, not the whole window
        .where(_m.c.check_name.in_(list(checks)), _m.c.resolution_s == res,
               _m.c.bucket_start >= start, _m.c.bucket_start < until)
        .order_by(_m.c.check_name, _m.c.tags, _m.c.bucket_start)).all()
    for check, key, epoch, last, low, high in rows:
        mine = out.get(check)
        if mine is not None:  # a check this configuration does not show: skipped
            mine.setdefault(key, []).append([epoch, last, low, high])
    return out


class WindowCache:
    """The status page's window, read again only where it can have changed.

    Hours that ended more than an hour ago are final (a run is recorded at
    its start; none runs for an hour): they are read once per hour, then kept.
    Each request reads only the last two hours' rows (two per series), so a
    page refreshed every 30 s costs 400 rows, not 34,000."""

    def __init__(self) -> None:
        self._key: tuple[datetime, datetime, tuple[str, ...]] | None = None
        self._final: Points = {}
        self._lock = threading.Lock()  # the endpoint serves a thread per request

    def window(self, conn: Connection, checks: Collection[str], since: datetime,
               until: datetime, max_points: int = MAX_POINTS) -> Points:
        hour = bucket_of(until, 3600) - timedelta(hours=1)
        start = bucket_of(since)
        if hour <= start or resolution_for(start, width_for(start, until, max_points)) != 3600:
            return window(conn, checks, since, until, max_points)  # nothing final to keep
        key = (start, hour, tuple(checks))
        with self._lock:
            if self._key != key:
                self._final = _plain(conn, checks, start, hour, 3600)
                self._key = key
            final = self._final
        fresh = _plain(conn, checks, hour, until, 3600)
        out: Points = {}
        for check, by_key in final.items():
            new = fresh.get(check, {})
            merged = {k: pts + new.get(k, []) for k, pts in by_key.items()}
            merged.update({k: pts for k, pts in new.items() if k not in by_key})
            out[check] = merged
        return out
