"""The query parameters a SQL check may use (README "What it checks"):
`:period_start`, `:period_end`, `:period_start_at`, `:period_end_at`,
`:period_label`, `:now`, on SQLite and PostgreSQL, for a billing week that
ends at midnight in Berlin (23:00 UTC in winter), with hand-placed rows on
each side of every boundary."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Date, DateTime, Engine, Integer, MetaData, String, Table

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.contract import CheckContext
from billing_monitor.checks.period import current_period
from billing_monitor.checks.sql import SqlOptions, build_sql
from tests.peers.postgres import PostgresServer

NOW = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)  # Thursday of 2026-W47
meta = MetaData()
events = Table("events", meta, Column("id", Integer, primary_key=True),
               Column("at", DateTime(timezone=True), nullable=False))
days = Table("days", meta, Column("id", Integer, primary_key=True),
             Column("day", Date, nullable=False))
labels = Table("labels", meta, Column("label", String(16), primary_key=True))

AT = [  # UTC; the Berlin week is [2026-11-15 23:00, 2026-11-22 23:00) in UTC
    datetime(2026, 11, 15, 22, 59, 59, tzinfo=UTC),  # Sunday 23:59:59 in Berlin: W46
    datetime(2026, 11, 15, 23, 0, tzinfo=UTC),  # Monday 00:00 in Berlin: the first instant
    datetime(2026, 11, 19, 5, 29, tzinfo=UTC),  # a minute before the run
    datetime(2026, 11, 19, 5, 31, tzinfo=UTC),  # a minute after the run
    datetime(2026, 11, 22, 22, 59, 59, tzinfo=UTC),  # the last second of the week
    datetime(2026, 11, 22, 23, 0, tzinfo=UTC),  # W48 in Berlin (still Sunday in UTC)
]
DAYS = [date(2026, 11, 15), date(2026, 11, 16), date(2026, 11, 22), date(2026, 11, 23)]


def _fill(engine: Engine) -> Engine:
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(events.insert(), [{"id": i, "at": at} for i, at in enumerate(AT)])
        conn.execute(days.insert(), [{"id": i, "day": d} for i, d in enumerate(DAYS)])
        conn.execute(labels.insert(), [{"label": "2026-W46"}, {"label": "2026-W47"}])
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'billing.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.fresh_database("sql_parameters")
    _fill(open_engine(url, read_only=False)).dispose()
    yield url


class _Services:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def billing_engine(self) -> Engine:
        return self.engine


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT COUNT(*) FROM events WHERE at >= :period_start_at AND at < :period_end_at", 4),
    ("SELECT COUNT(*) FROM events WHERE at >= :period_start_at AND at < :now", 2),
    ("SELECT COUNT(*) FROM events WHERE at >= :now", 3),
    ("SELECT COUNT(*) FROM days WHERE day >= :period_start AND day < :period_end", 2),
    ("SELECT COUNT(*) FROM labels WHERE label = :period_label", 1),
])
def test_period_and_clock_parameters(url: str, query: str, expected: int) -> None:
    engine = open_engine(url)
    period = current_period("iso_week", "Europe/Berlin", NOW)
    ctx = CheckContext(period, NOW, time.monotonic() + 30)
    try:
        [m] = build_sql("q", SqlOptions(type="sql", query=query), _Services(engine)).collect(ctx)
    finally:
        engine.dispose()
    assert m.value == expected
