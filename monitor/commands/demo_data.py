"""The embedded demo: a SQLite billing database holding a realistic week.

This week: 480 active orders billed with their billing records, 14 active
orders not billed yet (3 of them after failed charge attempts), one order
marked billed whose billing record is missing, and a few cancelled orders.
Last week: all billed, so the period filter visibly matters.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from billing_monitor.checks.period import current_period
from billing_monitor.checks.schema import billing_records, charge_attempts, metadata, orders
from billing_monitor.settings.model import Settings

BILLED = 480
UNBILLED = 14
FAILED = 3
MISSING = 1
CANCELLED = 6
LAST_WEEK = 300


def populate(engine: Engine, settings: Settings, now: datetime, seed: int = 7,
             first_id: int = 1) -> dict[str, int]:
    """Create the reference schema and fill it; returns what was planted.
    `first_id` lets a second call plant another period beside the first."""
    rng = random.Random(seed)
    tz = ZoneInfo(settings.period.timezone)
    this = current_period(settings.period.kind, settings.period.timezone, now)
    last = current_period(settings.period.kind, settings.period.timezone, now, -1)
    metadata.create_all(engine)
    order_rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []

    def add(period_start: Any, days: int, status: str, billed: bool, record: bool) -> int:
        oid = first_id + len(order_rows)
        day = period_start + timedelta(days=rng.randrange(days))
        created = datetime.combine(day, time(rng.randrange(24), rng.randrange(60)), tzinfo=tz)
        amount = rng.choice([1900, 2900, 4900, 9900])
        order_rows.append(
            {"id": oid, "customer_id": 1000 + rng.randrange(400), "status": status,
             "billing_date": day, "amount_cents": amount, "billed": billed, "created_at": created}
        )
        if record:
            records.append(
                {"order_id": oid, "amount_cents": amount, "billed_at": created + timedelta(hours=1),
                 "stripe_payment_intent_id": f"pi_demo{oid:06d}"}
            )
            attempts.append({"order_id": oid, "status": "succeeded", "failure_code": None,
                             "attempted_at": created + timedelta(hours=1)})
        return oid

    days = max(1, (this.end - this.start).days)
    for _ in range(LAST_WEEK):
        add(last.start, (last.end - last.start).days, "active", True, True)
    for _ in range(BILLED):
        add(this.start, days, "active", True, True)
    for i in range(UNBILLED):
        oid = add(this.start, days, "active", False, False)
        if i < FAILED:
            attempts.append({"order_id": oid, "status": "failed",
                             "failure_code": rng.choice(["card_declined", "insufficient_funds"]),
                             "attempted_at": now})
    for _ in range(MISSING):
        add(this.start, days, "active", True, False)
    for _ in range(CANCELLED):
        add(this.start, days, "cancelled", False, False)
    with engine.begin() as conn:
        conn.execute(insert(orders), order_rows)
        conn.execute(insert(billing_records), records)
        conn.execute(insert(charge_attempts), attempts)
    return {"orders": len(order_rows), "unbilled": UNBILLED, "failed": FAILED, "missing": MISSING}


def demo_database(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "billing-demo.db"
    path.unlink(missing_ok=True)
    return path
