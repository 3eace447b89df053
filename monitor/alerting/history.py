"""The measurement history in the state store (issues 13 and 14, built once):
every check's values over time, for the status page's charts and the volume
checks' seasonal baselines. Readers see it through checks/history.py.

Downsampled on write: a run adds each value to the 5-minute bucket and the
1-hour bucket it falls in (count, sum, min, max, last), one upsert statement
per run inside the run's transaction (the dialect's INSERT ... ON CONFLICT,
SQLite and PostgreSQL). 35 days of 5-minute buckets cover a 4-week seasonal
baseline plus a 7-day chart; `prune` deletes older buckets. Downsampled again
on read: `series` reads the coarsest resolution that tiles the points asked
for and merges further in the database (window functions) only when it must:
a 7-day chart reads 168 hourly rows, not 2,016 (docs/benchmarks.md).

It holds check names and values only: never a secret.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from billing_monitor.checks.history import MAX_POINTS, HistoryPoint

RESOLUTION_S = 300  # a 5-minute bucket
RESOLUTIONS = (RESOLUTION_S, 3600)  # every run lands in one bucket of each
KEEP_DAYS = 35  # 4 weeks of seasonal baseline + a 7-day chart


def define_history(metadata: MetaData) -> Table:
    """The `measurements` table, in `metadata` (the state store's)."""
    return Table(
        "measurements", metadata,
        Column("check_name", String(64), nullable=False),
        # the series key: sorted "k:v,k:v", the metric name among them (series_key)
        Column("tags", Text, nullable=False),
        Column("resolution_s", Integer, nullable=False),
        Column("bucket_start", DateTime(timezone=True), nullable=False),
        Column("count", Integer, nullable=False),
        Column("sum", Float, nullable=False),
        Column("min", Float, nullable=False),
        Column("max", Float, nullable=False),
        Column("last", Float, nullable=False),
        # resolution before tags: both reads (every tags series of a check at
        # one resolution; one series) are then a range of this index
        PrimaryKeyConstraint("check_name", "resolution_s", "tags", "bucket_start"),
        Index("ix_measurements_bucket_start", "bucket_start"),  # for prune()
        sqlite_with_rowid=False,  # SQLite: rows live in the key's b-tree (reads cover)
    )


# The same definition in a private MetaData, for the statements below: the
# names and types are those of the caller's table by construction.
_m = define_history(MetaData())


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"history: {what} {at.isoformat()} has no time zone (give UTC)")
    return at.astimezone(UTC)


def bucket_of(at: datetime, resolution_s: int = RESOLUTION_S) -> datetime:
    at = _utc(at, "time")
    epoch = math.floor(at.timestamp() / resolution_s) * resolution_s
    return datetime.fromtimestamp(epoch, UTC)


def _pair(conn: Connection, a: Any, b: Any, biggest: bool) -> Any:
    if conn.dialect.name == "postgresql":
        return func.greatest(a, b) if biggest else func.least(a, b)
    return func.max(a, b) if biggest else func.min(a, b)  # SQLite's scalar forms


def _insert(conn: Connection) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(_m)
    if name == "sqlite":
        return sqlite.insert(_m)
    raise ValueError(f"history: no upsert for the {name} dialect (SQLite or PostgreSQL)")


# The upsert, built once per dialect: building it per call cost more CPU than
# the database's work (issue 10's finding for the alert rows, docs/benchmarks.md).
_UPSERTS: dict[str, Any] = {}


def _upsert(conn: Connection) -> Any:
    stmt = _UPSERTS.get(conn.dialect.name)
    if stmt is None:
        ins = _insert(conn)
        x = ins.excluded
        stmt = ins.on_conflict_do_update(
            index_elements=["check_name", "tags", "resolution_s", "bucket_start"],
            set_={"count": _m.c["count"] + x["count"], "sum": _m.c["sum"] + x["sum"],
                  "min": _pair(conn, _m.c["min"], x["min"], biggest=False),
                  "max": _pair(conn, _m.c["max"], x["max"], biggest=True),
                  "last": x["last"]},
        )
        _UPSERTS[conn.dialect.name] = stmt
    return stmt


def record(conn: Connection, check: str, at: datetime,
           values: Sequence[tuple[str, float]]) -> None:
    """Add one run's values, `(series key, value)`, to their buckets, inside the
    caller's transaction. Values that are not finite numbers are left out (the
    run is UNKNOWN anyway); two values with the same tags in one run are merged."""
    at = _utc(at, "time")
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for tags, raw in values:
        v = float(raw)
        if not math.isfinite(v):
            continue
        for res in RESOLUTIONS:
            row = rows.get((tags, res))
            if row is None:
                rows[tags, res] = {"check_name": check, "tags": tags, "resolution_s": res,
                                   "bucket_start": bucket_of(at, res), "count": 1, "sum": v,
                                   "min": v, "max": v, "last": v}
            else:
                row.update(count=row["count"] + 1, sum=row["sum"] + v,
                           min=min(row["min"], v), max=max(row["max"], v), last=v)
    if not rows:
        return
    conn.execute(_upsert(conn), list(rows.values()))


def prune(conn: Connection, now: datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete buckets older than `keep_days`; returns how many."""
    if keep_days < 1:
        raise ValueError(f"history: keep_days must be at least 1, not {keep_days}")
    cutoff = _utc(now, "now") - timedelta(days=keep_days)
    result = conn.execute(_m.delete().where(_m.c.bucket_start < cutoff))
    return int(result.rowcount or 0)


def _epoch(conn: Connection, col: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", col)
    return func.strftime("%s", col)  # SQLite stores "YYYY-MM-DD HH:MM:SS[.ffffff]", UTC


def _slot(conn: Connection, offset: ColumnElement[Any], width: int) -> ColumnElement[Any]:
    """floor(offset / width), offset >= 0, as an integer on both dialects."""
    if conn.dialect.name == "postgresql":
        return func.floor(offset / width).cast(Integer)
    return (offset.cast(Integer) / width).cast(Integer)  # integer division in SQLite


def width_for(since: datetime, until: datetime, max_points: int) -> int:
    """Seconds per point so that [since, until) fits in `max_points` points:
    a whole number of buckets."""
    if max_points < 1:
        raise ValueError(f"history: max_points must be at least 1, not {max_points}")
    span = max((until - since).total_seconds(), RESOLUTION_S)
    buckets = math.ceil(span / RESOLUTION_S / max_points)
    return max(1, buckets) * RESOLUTION_S


def _resolution(start: datetime, width: int) -> int:
    """The coarsest stored resolution whose buckets tile points of `width`
    seconds starting at `start`."""
    fits = [r for r in RESOLUTIONS if width % r == 0 and int(start.timestamp()) % r == 0]
    return max(fits)


def series(conn: Connection, check: str, since: datetime, until: datetime,
           max_points: int = MAX_POINTS) -> list[HistoryPoint]:
    """The check's values in [since, until), per tags, at most `max_points`
    points per tags series, ordered by tags then time. A merged point keeps
    the last value of its latest bucket, the lowest low, the highest high and
    the total count. `since` is rounded down to its 5-minute bucket."""
    since, until = _utc(since, "since"), _utc(until, "until")
    start = bucket_of(since)
    width = width_for(start, until, max_points)
    res = _resolution(start, width)
    where = and_(_m.c.check_name == check, _m.c.resolution_s == res,
                 _m.c.bucket_start >= start, _m.c.bucket_start < until)
    if width == res:  # stored as asked: no merging; the epoch, not a parsed timestamp
        at = _epoch(conn, _m.c.bucket_start).cast(Integer)
        plain = conn.execute(
            select(_m.c.tags, at, _m.c["last"], _m.c["min"], _m.c["max"], _m.c["count"])
            .where(where).order_by(_m.c.tags, _m.c.bucket_start)).all()
        return [HistoryPoint(datetime.fromtimestamp(r[1], UTC), r[0], r[2], r[3], r[4], r[5])
                for r in plain]
    offset = _epoch(conn, _m.c.bucket_start) - int(start.timestamp())
    slot = _slot(conn, offset, width).label("slot")
    inner = select(_m.c.tags, slot, _m.c.bucket_start, _m.c["last"], _m.c["min"],
                   _m.c["max"], _m.c["count"]).where(where).subquery()
    part = (inner.c.tags, inner.c.slot)
    ranked = select(
        inner.c.tags, inner.c.slot, inner.c["last"],
        func.min(inner.c["min"]).over(partition_by=part).label("low"),
        func.max(inner.c["max"]).over(partition_by=part).label("high"),
        func.sum(inner.c["count"]).over(partition_by=part).label("n"),
        func.row_number().over(partition_by=part,
                               order_by=inner.c.bucket_start.desc()).label("rn"),
    ).subquery()
    rows = conn.execute(
        select(ranked.c.tags, ranked.c.slot, ranked.c["last"], ranked.c.low, ranked.c.high,
               ranked.c.n).where(ranked.c.rn == 1).order_by(ranked.c.tags, ranked.c.slot)
    ).all()
    return [HistoryPoint(start + timedelta(seconds=int(r.slot) * width), r.tags,
                         float(r[2]), float(r.low), float(r.high), int(r.n)) for r in rows]


class StoreHistory:
    """A HistoryReader over the state store's engine (one connection per read)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def series(self, check: str, since: datetime, until: datetime,
               max_points: int = MAX_POINTS) -> list[HistoryPoint]:
        with self._engine.connect() as conn:
            return series(conn, check, since, until, max_points)
