"""`payment_volume` and `payment_freshness` from the billing database.

The volume query counts successful payments in [:window_start, :window_end) by
currency: columns `currency`, `count` and optionally `amount` (minor units),
for example

    SELECT currency, COUNT(*) AS count, SUM(amount) AS amount FROM payments
    WHERE status = 'succeeded'
      AND created_at >= :window_start AND created_at < :window_end
    GROUP BY currency

It runs for the current window and for the same window in each past week, so
the baseline comes from the database's own history: no warm-up. The freshness
query returns one timestamp, the last successful payment (:now is bound).
Queries are read-only, one statement, bounded and under the check's deadline,
as every SQL check (checks/sqlguard.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import Connection, DateTime, Engine, TextClause, bindparam, text

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.payment_volume import (
    PaymentVolume,
    PaymentVolumeOptions,
    Totals,
    VolumeSource,
    Window,
)
from billing_monitor.checks.seasonal import minor_exponent
from billing_monitor.checks.sql import bind_names
from billing_monitor.checks.sql_results import MAX_ROWS, number
from billing_monitor.checks.sqlguard import bounded, check_query

_STAMP = DateTime(timezone=True)


def sql_query(query: str, allowed: set[str]) -> str:
    """Refuse at load a query that writes or uses an unknown parameter."""
    unknown = bind_names(query) - allowed
    if unknown:
        raise ValueError(f"unknown query parameter(s) {', '.join(':' + u for u in sorted(unknown))}"
                         f"; known: {', '.join(':' + a for a in sorted(allowed))}")
    return check_query(query)


def compiled(query: str, limit: int, prefix: str = "") -> TextClause:
    """The bounded query with typed timestamps; `prefix` is `EXPLAIN ` for
    `validate --connect`, which plans it without running it."""
    names = bind_names(query)
    return text(prefix + bounded(query, limit)).bindparams(
        *(bindparam(n, type_=_STAMP) for n in ("window_start", "window_end", "now")
          if n in names))


class SqlVolumeOptions(PaymentVolumeOptions):
    query: str = Field(description="successful payments in the window: currency, count, amount")

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        return sql_query(v, {"window_start", "window_end"})


class SqlWindows:
    """A VolumeSource over one read-only connection."""

    def __init__(self, conn: Connection, query: TextClause, where: str) -> None:
        self._conn = conn
        self._query = query
        self._where = where

    def totals(self, start: datetime, end: datetime) -> Window:
        result = self._conn.execute(self._query, {"window_start": start, "window_end": end})
        columns = [c.lower() for c in result.keys()]  # noqa: SIM118 (a RMKeyView)
        if "currency" not in columns or "count" not in columns:
            raise ValueError(f"{self._where}: the query needs columns 'currency' and 'count' "
                             f"(and optionally 'amount'), got {', '.join(columns)}")
        rows = result.fetchall()
        if len(rows) > MAX_ROWS:
            raise ValueError(f"{self._where} returned more than {MAX_ROWS} currencies")
        ci, ni = columns.index("currency"), columns.index("count")
        ai = columns.index("amount") if "amount" in columns else None
        out: Window = {}
        for row in rows:
            cur = str(row[ci]).lower()
            try:
                minor_exponent(cur)
            except ValueError as exc:
                raise ValueError(f"{self._where}: {exc}") from None
            amount = 0 if ai is None else int(number(row[ai], self._where))
            prev = out.get(cur, Totals(0, 0))  # 'USD' and 'usd' rows add up
            out[cur] = Totals(prev.count + int(number(row[ni], self._where)),
                              prev.amount + amount)
        return out


def sql_opener(name: str, engine: Engine, query: str) -> Any:
    stmt = compiled(query, MAX_ROWS + 1)

    @contextmanager
    def open_source(ctx: CheckContext) -> Iterator[VolumeSource]:
        with engine.connect() as conn, database_deadline(conn, ctx.deadline):
            try:
                yield SqlWindows(conn, stmt, f"check {name}")
            finally:
                conn.rollback()

    return open_source


def build_sql_volume(name: str, options: SqlVolumeOptions, services: Services) -> PaymentVolume:
    return PaymentVolume(name, options, sql_opener(name, services.billing_engine(), options.query))


def as_utc(value: Any, where: str) -> datetime | None:
    """A timestamp from any driver: SQLite gives text, PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where} returned {value!r}, not a timestamp") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{where} returned {type(value).__name__}, not a timestamp")
    stamp: datetime = value
    if stamp.tzinfo is None:  # stored without a zone: taken as UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


SQL_PAYMENT_VOLUME = CheckType(
    "payment_volume", SqlVolumeOptions, build_sql_volume,
    "successful payments per currency against the same hour of the week in past weeks",
)
