"""The billing checks of the source article, counted in the database.

Each is a SQL check whose query defaults to the reference schema
(`checks/schema.py`, `docs/schema.md`) and can be replaced in the config for a
database with other table names. Counting uses anti-joins and EXISTS over
indexed columns; ids are never loaded into Python except a capped sample.
"""

from __future__ import annotations

from pydantic import Field

from billing_monitor.checks.base import CheckType
from billing_monitor.checks.sql import SqlOptions, build_sql
from billing_monitor.checks.thresholds import Thresholds

_IN_PERIOD = "o.billing_date >= :period_start AND o.billing_date < :period_end"

# `LIMIT 1 OFFSET 0` keeps each [NOT] EXISTS a per-order index probe. Without
# it PostgreSQL may turn the subquery into a hash join that reads the whole
# billing_records (or charge_attempts) table into memory: cost and memory then
# grow with the table, not the period (390 ms instead of 90 ms at 1M orders;
# docs/benchmarks.md). The result is the same; SQLite always probes.

UNBILLED_WHERE = f"""FROM orders o
WHERE o.status = 'active' AND o.billed = FALSE AND {_IN_PERIOD}"""

# An order the application marks billed must have a ledger entry. An order not
# yet billed legitimately has none; that is what unbilled_orders counts.
MISSING_WHERE = f"""FROM orders o
WHERE o.billed = TRUE AND {_IN_PERIOD}
  AND NOT EXISTS (SELECT 1 FROM billing_records b WHERE b.order_id = o.id
                  LIMIT 1 OFFSET 0)"""

FAILED_WHERE = f"""FROM orders o
WHERE o.status = 'active' AND o.billed = FALSE AND {_IN_PERIOD}
  AND EXISTS (SELECT 1 FROM charge_attempts c
              WHERE c.order_id = o.id AND c.status = 'failed' LIMIT 1 OFFSET 0)"""


def _count_and_sample(where: str) -> str:
    # One pass: every offending order is found once, counted by the window and
    # the oldest :sample_limit of them returned. A separate sample query would
    # repeat the probes until it had found enough: for missing_billing_records
    # that was 40% of the check's time at 1M orders (docs/benchmarks.md).
    # Oldest first, in the order ix_orders_period yields. `ORDER BY o.id LIMIT`
    # tempts PostgreSQL into walking the primary key from the oldest order of
    # all time, filtering out every earlier period (168 ms instead of 0.06 ms at
    # 1M orders).
    return (f"SELECT o.id AS sample_id, COUNT(*) OVER () AS value {where}\n"
            "ORDER BY o.billing_date, o.id LIMIT :sample_limit")


class UnbilledOrdersOptions(SqlOptions):
    query: str = _count_and_sample(UNBILLED_WHERE)
    thresholds: Thresholds = Field(default=Thresholds(critical=10))
    description: str = "Active orders in the billing period that are not billed"


class MissingBillingRecordsOptions(SqlOptions):
    query: str = _count_and_sample(MISSING_WHERE)
    thresholds: Thresholds = Field(default=Thresholds(critical=0))
    description: str = "Orders in the period marked billed with no billing record"


class FailedChargesOptions(SqlOptions):
    query: str = _count_and_sample(FAILED_WHERE)
    thresholds: Thresholds = Field(default=Thresholds(warning=0, critical=10))
    description: str = "Active unbilled orders in the period whose charge attempts failed"


UNBILLED_ORDERS = CheckType(
    "unbilled_orders", UnbilledOrdersOptions, build_sql, "active orders in the period not billed"
)
MISSING_BILLING_RECORDS = CheckType(
    "missing_billing_records",
    MissingBillingRecordsOptions,
    build_sql,
    "billed orders in the period with no billing record",
)
FAILED_CHARGES = CheckType(
    "failed_charges", FailedChargesOptions, build_sql, "unbilled orders with failed charge attempts"
)
