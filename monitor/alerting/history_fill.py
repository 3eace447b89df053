"""Back-filling the measurement history (monitor/alerting/history.py): values a
check reconstructed for times it did not run (stripe_payment_volume from
Stripe's Events, checks/stripe/volume_fill.py) go into the buckets that hold
nothing yet, at both resolutions. A bucket that already holds a value (a run
recorded it, or an earlier back-fill) is left exactly as it is: a back-fill
never overwrites what was measured, and running one twice changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

from billing_monitor.alerting.history import RESOLUTIONS, StoreHistory, _m, bucket_of

_FILLS: dict[str, Any] = {}


def _insert_missing(conn: Connection) -> Any:
    stmt = _FILLS.get(conn.dialect.name)
    if stmt is None:
        name = conn.dialect.name
        if name not in ("postgresql", "sqlite"):
            raise ValueError(f"history: no back-fill for the {name} dialect")
        ins = (postgresql.insert(_m) if name == "postgresql" else sqlite.insert(_m))
        stmt = _FILLS[name] = ins.on_conflict_do_nothing(
            index_elements=["check_name", "tags", "resolution_s", "bucket_start"])
    return stmt


def fill(conn: Connection, check: str, values: Sequence[tuple[datetime, str, float]]) -> int:
    """Add `(time, series key, value)` to the buckets of `check` that are empty;
    values that are not finite are left out. Returns how many rows were offered."""
    rows: dict[tuple[str, int, datetime], dict[str, Any]] = {}
    for at, tags, raw in sorted(values, key=lambda v: v[0]):
        v = float(raw)
        if not math.isfinite(v):
            continue
        for res in RESOLUTIONS:
            start = bucket_of(at, res)
            row = rows.get((tags, res, start))
            if row is None:
                rows[tags, res, start] = {"check_name": check, "tags": tags,
                                          "resolution_s": res, "bucket_start": start,
                                          "count": 1, "sum": v, "min": v, "max": v, "last": v}
            else:
                row.update(count=row["count"] + 1, sum=row["sum"] + v,
                           min=min(row["min"], v), max=max(row["max"], v), last=v)
    if rows:
        conn.execute(_insert_missing(conn), list(rows.values()))
    return len(rows)


class FillingHistory(StoreHistory):
    """The history as the checks are handed it (checks/history.HistoryStore):
    read, and back-filled in one transaction per call."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._engine = engine

    def fill(self, check: str, values: Sequence[tuple[datetime, str, float]]) -> int:
        with self._engine.begin() as conn:
            return fill(conn, check, values)
