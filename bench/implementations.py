"""The implementations the benchmark compares, each returning the three
counts {unbilled_orders, missing_billing_records, failed_charges}.

`fast` is the product's own code path: the built-in check types from the
registry, built from their default options over `monitor.app.open_engine`,
collected with a CheckContext for the benchmark's period.

`naive` is the source article's approach translated to Python: pluck the
period's orders, the period's billing-record order ids and the failed
attempts' order ids into Python lists, then diff and count in Python.
Like the article's `BillingRecord.where(date: @date)`, it finds the period's
records by their own date (billed_at), which the generated data keeps inside
the order's billing week, so both implementations agree on the counts.
It loads more into Python than the article did: the article counted unbilled
and failed orders in SQL. `article` is that faithful translation (only the
missing-records diff in Python); it is faster than `naive`, so the speed-up
against it is the smaller, stricter figure (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, DateTime, Engine, TextClause, bindparam, text
from sqlalchemy.types import TypeEngine

from bench import dataset
from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.contract import CheckContext
from billing_monitor.checks.history import NullHistory
from billing_monitor.checks.registry import CHECK_TYPES

if TYPE_CHECKING:
    from billing_monitor.checks.stripe.client import StripeApi
    from billing_monitor.checks.stripe.state import CursorStore

CHECKS = ("unbilled_orders", "missing_billing_records", "failed_charges")
Counts = dict[str, int]


class _Services:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def billing_engine(self) -> Engine:
        return self._engine

    def stripe_client(self) -> StripeApi:
        raise NotImplementedError("the SQL benchmark runs no Stripe checks")

    def stripe_cursors(self) -> CursorStore:
        raise NotImplementedError("the SQL benchmark runs no Stripe checks")

    def history(self) -> NullHistory:
        return NullHistory()


def context() -> CheckContext:
    return CheckContext(dataset.PERIOD, dataset.NOW, time.monotonic() + 3600)


def fast(url: str) -> Counts:
    engine = open_engine(url)
    try:
        services = _Services(engine)
        counts: Counts = {}
        for name in CHECKS:
            check_type = CHECK_TYPES[name]
            check = check_type.build(name, check_type.options(type=name), services)
            (measurement,) = check.collect(context())
            counts[name] = int(measurement.value)
        return counts
    finally:
        engine.dispose()


def _typed(sql: str, type_: TypeEngine[Any]) -> TextClause:
    # Typed binds, so SQLite gets dates in the text format SQLAlchemy stores.
    return text(sql).bindparams(bindparam("s", type_=type_), bindparam("e", type_=type_))


def naive(url: str) -> Counts:
    engine = open_engine(url)
    p = dataset.PERIOD
    try:
        with engine.connect() as conn:
            period_orders = conn.execute(
                _typed("SELECT id, status, billed FROM orders "
                       "WHERE billing_date >= :s AND billing_date < :e", Date()),
                {"s": p.start, "e": p.end},
            ).all()
            record_order_ids = conn.execute(
                _typed("SELECT order_id FROM billing_records "
                       "WHERE billed_at >= :s AND billed_at < :e", DateTime(timezone=True)),
                {"s": p.start_at, "e": p.end_at},
            ).scalars().all()
            failed_order_ids = conn.execute(
                text("SELECT order_id FROM charge_attempts WHERE status = 'failed'")
            ).scalars().all()
    finally:
        engine.dispose()
    billed_ids = [o.id for o in period_orders if o.billed]
    unbilled = [o.id for o in period_orders if o.status == "active" and not o.billed]
    missing = set(billed_ids) - set(record_order_ids)
    failed = set(unbilled) & set(failed_order_ids)
    return {
        "unbilled_orders": len(unbilled),
        "missing_billing_records": len(missing),
        "failed_charges": len(failed),
    }


def article(url: str) -> Counts:
    """The article's collect_metrics, statement for statement: only the
    missing-records diff is done in Python (two plucks); `unbilled` and
    `failed` were already SQL counts there (`Order.active.where(...).count`,
    `Order.joins(:bills).where(...).distinct.count`). The article diffed the
    other way (records whose order is not in the period); this diffs in the
    check's direction (billed orders with no record) so the counts agree."""
    engine = open_engine(url)
    p = dataset.PERIOD
    dates = {"s": p.start, "e": p.end}
    in_period = "billing_date >= :s AND billing_date < :e"
    try:
        with engine.connect() as conn:
            record_order_ids = conn.execute(
                _typed("SELECT order_id FROM billing_records "
                       "WHERE billed_at >= :s AND billed_at < :e", DateTime(timezone=True)),
                {"s": p.start_at, "e": p.end_at},
            ).scalars().all()
            billed_ids = conn.execute(
                _typed(f"SELECT id FROM orders WHERE {in_period} AND billed = TRUE", Date()),
                dates,
            ).scalars().all()
            unbilled = conn.execute(
                _typed(f"SELECT COUNT(*) FROM orders WHERE status = 'active' AND {in_period} "
                       "AND billed = FALSE", Date()), dates,
            ).scalar_one()
            failed = conn.execute(
                _typed("SELECT COUNT(DISTINCT o.id) FROM orders o JOIN charge_attempts c "
                       "ON c.order_id = o.id WHERE o.status = 'active' AND "
                       "o.billing_date >= :s AND o.billing_date < :e AND o.billed = FALSE "
                       "AND c.status = 'failed'", Date()),
                dates,
            ).scalar_one()
    finally:
        engine.dispose()
    return {
        "unbilled_orders": int(unbilled),
        "missing_billing_records": len(set(billed_ids) - set(record_order_ids)),
        "failed_charges": int(failed),
    }


IMPLEMENTATIONS: dict[str, Callable[[str], Counts]] = {
    "fast": fast, "naive": naive, "article": article,
}
