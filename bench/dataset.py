"""The benchmark's billing data: N orders over twelve billing weeks in the
reference schema (`checks/schema.py`), generated inside the database.

Order ids grow with `billing_date`, as they do in a real shop, so the measured
week (`PERIOD`) holds the newest twelfth of the orders. For order id i:
- status: cancelled when i % 53 == 0, paused when i % 53 == 1, else active;
- billed: active and i % 67 != 5 (about 1.5% of active orders stay unbilled);
- a billing record for every billed order except when i % 1999 == 0 (a few
  missing records), billed at 10:00 UTC on the billing date;
- a failed charge attempt for unbilled active orders with i % 3 == 0 and for
  billed orders with i % 17 == 0 (a retry that then succeeded), and a
  succeeded attempt for every billed order.
The statements are dialect-neutral except the row source and date arithmetic,
which `Dialect` supplies (SQLite: a recursive CTE; PostgreSQL: generate_series).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing_monitor.checks.contract import Period
from billing_monitor.checks.period import current_period

VERSION = 2  # bump when the generated data changes, to invalidate cached databases
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # fixed: every run measures the same week
TIMEZONE = "UTC"
PERIOD: Period = current_period("iso_week", TIMEZONE, NOW)
WEEKS = 12
FIRST_DAY = PERIOD.start - timedelta(days=7 * (WEEKS - 1))


@dataclass(frozen=True)
class Dialect:
    rows: str  # FROM clause yielding ids 1..{n} as column i
    day: str  # the date {days} days after FIRST_DAY
    at: str  # timestamp of date column {col} at {hour}:00 UTC


SQLITE = Dialect(
    rows="(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
    "SELECT i FROM s) AS g",
    day=f"date('{FIRST_DAY.isoformat()}', '+' || ({{days}}) || ' days')",
    at="({col} || ' {hour:02d}:00:00.000000')",
)
POSTGRES = Dialect(
    rows="generate_series(1::bigint, {n}) AS g(i)",
    day=f"(DATE '{FIRST_DAY.isoformat()}' + ({{days}})::int)",
    at="(({col} + TIME '{hour:02d}:00') AT TIME ZONE 'UTC')",
)


def statements(d: Dialect, n: int) -> list[str]:
    """INSERT ... SELECT statements that fill orders, billing_records and
    charge_attempts (tables must exist, ideally without secondary indexes)."""
    days = WEEKS * 7
    day = d.day.format(days=f"(i - 1) * {days} / {n}")
    orders = f"""INSERT INTO orders
  (id, customer_id, status, billing_date, amount_cents, billed, created_at)
SELECT i, 1 + (i * 7919) % 100000,
  CASE WHEN i % 53 = 0 THEN 'cancelled' WHEN i % 53 = 1 THEN 'paused' ELSE 'active' END,
  bd, 1900 + (i % 4) * 1000, (i % 53 NOT IN (0, 1) AND i % 67 <> 5), {d.at.format(col="bd", hour=9)}
FROM (SELECT i, {day} AS bd FROM {d.rows.format(n=n)}) AS x"""
    records = f"""INSERT INTO billing_records
  (order_id, amount_cents, billed_at, stripe_payment_intent_id)
SELECT o.id, o.amount_cents, {d.at.format(col="o.billing_date", hour=10)}, 'pi_' || o.id
FROM orders o WHERE o.billed AND o.id % 1999 <> 0 ORDER BY o.id"""
    attempts = f"""INSERT INTO charge_attempts (order_id, status, failure_code, attempted_at)
SELECT o.id, 'failed', 'card_declined', {d.at.format(col="o.billing_date", hour=8)}
FROM orders o
WHERE (NOT o.billed AND o.status = 'active' AND o.id % 3 = 0) OR (o.billed AND o.id % 17 = 0)
UNION ALL
SELECT o.id, 'succeeded', NULL, {d.at.format(col="o.billing_date", hour=10)}
FROM orders o WHERE o.billed"""
    return [orders, records, attempts]
