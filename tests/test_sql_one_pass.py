"""Counting and sampling in one query (`sample_id` and `value` columns), as the
built-in billing checks do, on the demo database (14 unbilled orders)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.billing import UnbilledOrdersOptions
from billing_monitor.checks.contract import CheckContext
from billing_monitor.checks.period import current_period
from billing_monitor.checks.sql import SqlCheck
from tests.helpers import NOW, demo_db

UNBILLED = UnbilledOrdersOptions(type="unbilled_orders").query
PERIOD = "billing_date >= :period_start AND billing_date < :period_end"


def _ctx(limit: int) -> CheckContext:
    return CheckContext(current_period("iso_week", "UTC", NOW), NOW, time.monotonic() + 30, limit)


def _engine(tmp_path: Path) -> Engine:
    return open_engine(f"sqlite:///{demo_db(tmp_path)}")


def test_a_sample_limit_of_zero_still_counts(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    [m] = SqlCheck("unbilled_orders", engine, UNBILLED).collect(_ctx(0))
    assert m.value == 14 and m.samples == ()
    engine.dispose()


def test_every_offender_when_the_limit_is_above_the_count(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    [m] = SqlCheck("unbilled_orders", engine, UNBILLED).collect(_ctx(100))
    assert m.value == 14 and len(set(m.samples)) == 14
    [capped] = SqlCheck("unbilled_orders", engine, UNBILLED).collect(_ctx(3))
    assert capped.samples == m.samples[:3]  # oldest first, the same order
    engine.dispose()


def test_user_query_in_one_pass_form(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    query = (f"SELECT id AS Sample_Id, COUNT(*) OVER () AS value FROM orders WHERE {PERIOD} "
             "AND status = 'cancelled' ORDER BY id LIMIT :sample_limit")
    plain = (f"SELECT COUNT(*) FROM orders WHERE {PERIOD} AND status = 'cancelled'")
    [m] = SqlCheck("cancelled", engine, query, metric="orders.cancelled").collect(_ctx(2))
    [n] = SqlCheck("cancelled", engine, plain).collect(_ctx(2))
    assert (m.name, m.value, m.tags) == ("orders.cancelled", n.value, ())
    assert n.value > 2 and len(m.samples) == 2
    [none] = SqlCheck("none", engine, query.replace("'cancelled'", "'no-such'")).collect(_ctx(2))
    assert (none.value, none.samples) == (0.0, ())
    engine.dispose()


def test_a_separate_sample_query_also_honours_a_zero_limit(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    count = f"SELECT COUNT(*) FROM orders WHERE {PERIOD}"
    sample = f"SELECT id FROM orders WHERE {PERIOD} ORDER BY id LIMIT :sample_limit"
    check = SqlCheck("orders", engine, count, sample_query=sample)
    [zero] = check.collect(_ctx(0))
    [two] = check.collect(_ctx(2))
    assert zero.value == two.value > 2
    assert zero.samples == () and len(two.samples) == 2
    engine.dispose()
