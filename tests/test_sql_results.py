"""Results are read strictly and bounded (issue 9 point 3, issue 8 point 5):
a value that is not a number, a result the row cap would cut, or one column
with several rows makes the check UNKNOWN with a message, never a silent
partial count; a result of 10 million rows never leaves the server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checking.runner import PlannedCheck, run_check
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckContext, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.sql import SqlCheck
from billing_monitor.commands.demo_data import populate
from tests.helpers import NOW, demo_db, settings_for
from tests.peers.postgres import PostgresServer

TEN_MILLION = {
    "postgresql": "SELECT g AS value, g % 7 AS shard FROM generate_series(1, 10000000) AS g",
    "sqlite": ("WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n "
               "WHERE g < 10000000) SELECT g AS value, g % 7 AS shard FROM n"),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    if request.param == "sqlite":
        url = f"sqlite:///{demo_db(tmp_path)}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.fresh_database("results")
        writer = open_engine(url, read_only=False)
        populate(writer, settings_for({"checks": {"unbilled_orders": {}}}), NOW)
        writer.dispose()
    e = open_engine(url)
    yield request.param, e
    e.dispose()


def _run(engine: Engine, query: str, timeout: float = 30) -> tuple[Status, str, list[float]]:
    check = SqlCheck("probe", engine, query)
    options = CheckOptions(type="sql", timeout_seconds=timeout)
    result = run_check(PlannedCheck(check, options), current_period("iso_week", "UTC", NOW),
                       NOW, 20)
    return result.status, result.error or "", [e.measurement.value for e in result.evaluations]


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT '12'", "returned str, not a number"),
    ("SELECT '12' AS value, 'gold' AS plan", "returned str, not a number"),
    ("SELECT 'x' AS sample_id, '3' AS value", "returned str, not a number"),
    ("SELECT 1 = 1", "not a number"),  # a boolean (PostgreSQL) or 1 (SQLite)
])
def test_text_is_not_a_number(engine: tuple[str, Engine], query: str, message: str) -> None:
    name, e = engine
    status, error, values = _run(e, query)
    if name == "sqlite" and query == "SELECT 1 = 1":  # SQLite has no booleans: 1
        assert (status, values) == (Status.OK, [1.0])
        return
    assert status is Status.UNKNOWN and message in error


def test_numbers_are_numbers(engine: tuple[str, Engine]) -> None:
    _name, e = engine
    assert _run(e, "SELECT CAST(2.5 AS DECIMAL(10, 2))")[2] == [2.5]
    assert _run(e, "SELECT SUM(amount_cents) FROM orders WHERE id < 0")[2] == [0.0]
    assert _run(e, "SELECT COUNT(*) FROM orders")[0] is Status.OK


def test_a_cut_result_is_unknown_never_a_partial_count(engine: tuple[str, Engine]) -> None:
    name, e = engine
    status, error, values = _run(e, TEN_MILLION[name])
    assert status is Status.UNKNOWN and values == []
    assert "returned more than 1000 rows" in error
    # At the cap itself every row is reported.
    status, _error, values = _run(e, TEN_MILLION[name].replace("10000000", "1000"))
    assert status is Status.OK and len(values) == 1000


def test_one_column_with_several_rows_is_an_error(engine: tuple[str, Engine]) -> None:
    _name, e = engine
    status, error, _values = _run(e, "SELECT id FROM orders")
    assert status is Status.UNKNOWN
    assert "rows of one column; a single number is one row" in error


def test_one_pass_results_read_only_the_sample(engine: tuple[str, Engine]) -> None:
    name, e = engine
    many = TEN_MILLION[name].replace("g AS value, g % 7 AS shard", "g AS sample_id, "
                                     "10000000 AS value")
    status, _error, values = _run(e, many)
    assert (status, values) == (Status.OK, [10_000_000.0])


def test_ten_million_rows_never_leave_the_server(engine: tuple[str, Engine]) -> None:
    # The server stops at the cap: the check takes what 1001 rows take, not
    # what 10 million do (bench/result_memory.py measures the memory).
    name, e = engine
    ctx = CheckContext(current_period("iso_week", "UTC", NOW), NOW, time.monotonic() + 60)
    with pytest.raises(ValueError, match="more than 1000 rows"):
        SqlCheck("probe", e, TEN_MILLION[name]).collect(ctx)
