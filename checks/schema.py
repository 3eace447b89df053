"""The reference billing schema the built-in queries are written against.

Used by the demo, the tests and the benchmarks; documented in docs/schema.md.
A real billing database may differ: replace the queries in the config.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

# BigInteger on PostgreSQL, INTEGER (the rowid alias) on SQLite.
_Id = BigInteger().with_variant(Integer(), "sqlite")

orders = Table(
    "orders",
    metadata,
    Column("id", _Id, primary_key=True),
    Column("customer_id", _Id, nullable=False),
    Column("status", String(16), nullable=False),  # active | paused | cancelled
    Column("billing_date", Date, nullable=False),  # the day the order is billed for
    Column("amount_cents", Integer, nullable=False),
    Column("billed", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Serves unbilled_orders, failed_charges and the period scan of missing records:
    # the equality column first, then the period range, so a check reads only the
    # period's rows with the right `billed`; `status` and `id` make it covering
    # (index-only scans on PostgreSQL). See docs/benchmarks.md.
    Index("ix_orders_period", "billed", "billing_date", "status", "id"),
)

billing_records = Table(
    "billing_records",
    metadata,
    Column("id", _Id, primary_key=True),
    Column("order_id", _Id, ForeignKey("orders.id"), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("billed_at", DateTime(timezone=True), nullable=False),
    Column("stripe_payment_intent_id", String(64)),
    Index("ix_billing_records_order", "order_id"),
)

charge_attempts = Table(
    "charge_attempts",
    metadata,
    Column("id", _Id, primary_key=True),
    Column("order_id", _Id, ForeignKey("orders.id"), nullable=False),
    Column("status", String(16), nullable=False),  # succeeded | failed
    Column("failure_code", String(64)),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Index("ix_charge_attempts_order_status", "order_id", "status"),
)
