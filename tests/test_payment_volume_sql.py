"""payment_volume and payment_freshness from SQL, on SQLite and a real PostgreSQL.

The data are written around the windows the check reads: the last hour and
the same hour in each of the four weeks before, at a steady rate per minute,
so a test states exactly what the baseline is."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
)

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.payment_freshness import SqlFreshnessOptions, build_sql_freshness
from billing_monitor.checks.payment_sql import SqlVolumeOptions, build_sql_volume
from billing_monitor.checks.period import current_period
from tests.peers.postgres import PostgresServer

UTC = UTC
NOW = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)  # a Tuesday afternoon
WEEK = timedelta(days=7)
QUERY = """SELECT currency, COUNT(*) AS count, SUM(amount) AS amount FROM payments
WHERE status = 'succeeded' AND created_at >= :window_start AND created_at < :window_end
GROUP BY currency"""
LAST = "SELECT MAX(created_at) FROM payments WHERE status = 'succeeded' AND created_at <= :now"

meta = MetaData()
payments = Table(
    "payments", meta,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"),
           primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def rows(currency: str, per_minute: int, amount: int, end: datetime, minutes: int = 60,
         status: str = "succeeded") -> list[dict[str, object]]:
    return [{"currency": currency, "amount": amount, "status": status,
             "created_at": end - timedelta(minutes=m, seconds=30)}
            for m in range(minutes) for _ in range(per_minute)]


def history(currency: str, per_minute: int, amount: int) -> list[dict[str, object]]:
    return [r for k in range(1, 5) for r in rows(currency, per_minute, amount, NOW - k * WEEK)]


class _Services:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def billing_engine(self) -> Engine:
        return self.engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "billing.db"
        sqlite3.connect(path).close()
        yield f"sqlite:///{path}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        yield server.fresh_database("payments_volume")


def load(url: str, data: list[dict[str, object]]) -> Engine:
    writer = open_engine(url, read_only=False)
    meta.create_all(writer)
    with writer.begin() as conn:
        conn.execute(insert(payments), data)
    writer.dispose()
    return open_engine(url)


def run_volume(url: str, data: list[dict[str, object]], **options: object) -> list[Measurement]:
    engine = load(url, data)
    try:
        check = build_sql_volume("volume", SqlVolumeOptions(
            type="payment_volume", query=QUERY, **options), _Services(engine))
        ctx = CheckContext(current_period("iso_week", "UTC", NOW), NOW, time.monotonic() + 30)
        return list(check.collect(ctx))
    finally:
        engine.dispose()


def find(ms: list[Measurement], name: str, *tags: str) -> float:
    hits = [m.value for m in ms if m.name == name and set(tags) <= set(m.tags)]
    assert len(hits) == 1, (name, tags, hits)
    return hits[0]


def test_normal_traffic_is_not_below(database: str) -> None:
    ms = run_volume(database, history("usd", 3, 2500) + rows("usd", 3, 2500, NOW))
    assert find(ms, "payment_volume.below_baseline", "currency:usd") == 0
    main = ("currency:usd", "measure:count", "window:60m")
    assert find(ms, "payment_volume.value", *main) == 180
    assert find(ms, "payment_volume.baseline", *main) == 180
    # 4 sigmas of counting noise (sqrt 180) and 5 % day-to-day variation (9)
    assert find(ms, "payment_volume.band", *main) == pytest.approx(180 - 4 * (180 + 81) ** 0.5)
    assert find(ms, "payment_volume.value", "currency:usd", "measure:amount",
                "window:60m") == 180 * 2500
    assert not [m for m in ms if "currency:all" in m.tags]  # one currency: no total


def test_forty_percent_drop_is_below(database: str) -> None:
    ms = run_volume(database, history("usd", 5, 2500) + rows("usd", 3, 2500, NOW))
    assert find(ms, "payment_volume.below_baseline", "currency:usd") == 1
    assert find(ms, "payment_volume.drop", "currency:usd", "measure:count",
                "window:60m") == pytest.approx(0.4)
    why = next(m.samples for m in ms if m.name == "payment_volume.below_baseline")
    assert why and "usd count over 60 min: 40% below the baseline 300" in why[0]


def test_full_stop_of_one_currency_is_seen_in_the_short_window(database: str) -> None:
    now = rows("usd", 3, 2500, NOW) + rows("jpy", 2, 6000, NOW - timedelta(minutes=12), 48)
    ms = run_volume(database, history("usd", 3, 2500) + history("jpy", 2, 6000) + now)
    assert find(ms, "payment_volume.below_baseline", "currency:usd") == 0
    assert find(ms, "payment_volume.below_baseline", "currency:jpy") == 1
    assert find(ms, "payment_volume.below_baseline", "currency:all") == 0  # 12 % short
    assert find(ms, "payment_volume.value", "currency:all", "window:60m") == 180 + 96
    # 12 minutes of nothing: all of the last 10 minutes, 20 % of the hour
    assert find(ms, "payment_volume.drop", "currency:jpy", "measure:count",
                "window:10m") == pytest.approx(1.0)


def test_quiet_hours_do_not_page(database: str) -> None:
    ms = run_volume(database, history("usd", 1, 2500))  # 60 a week ago, none now
    assert find(ms, "payment_volume.below_baseline", "currency:usd") == 0


def test_amounts_judged_in_the_currencys_minor_units(database: str) -> None:
    # Same count, half the yen: judged only because jpy has an amount floor
    # (5,000 yen = 5000 minor units, zero-decimal).
    data = history("jpy", 3, 6000) + rows("jpy", 3, 3000, NOW)
    ms = run_volume(database, data, amount_floor={"JPY": 5000})
    assert find(ms, "payment_volume.below_baseline", "currency:jpy") == 1
    ms = run_volume(database, data, amount_floor={"jpy": 2_000_000})  # more than the hour
    assert find(ms, "payment_volume.below_baseline", "currency:jpy") == 0


def test_freshness_by_time_of_week(database: str) -> None:
    engine = load(database, rows("usd", 1, 100, NOW - timedelta(minutes=20), 1)
                  + rows("usd", 1, 100, NOW, 1, status="failed"))
    try:
        def run(**options: object) -> list[Measurement]:
            opts = SqlFreshnessOptions(type="payment_freshness", query=LAST, **options)
            ctx = CheckContext(current_period("iso_week", "UTC", NOW), NOW,
                               time.monotonic() + 30)
            return list(build_sql_freshness("fresh", opts, _Services(engine)).collect(ctx))

        business = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                    "end": "18:00", "max_silence_minutes": 10}
        ms = run(hours=[business], timezone="Europe/Paris")  # 15:00 in Paris
        assert find(ms, "payment_freshness.age_minutes") == pytest.approx(20.5)
        assert find(ms, "payment_freshness.over_limit") == pytest.approx(2.05)
        ms = run(hours=[{**business, "start": "16:00"}], max_silence_minutes=60,
                 timezone="Europe/Paris")
        assert find(ms, "payment_freshness.limit_minutes") == 60
        assert [m.name for m in run(hours=[{**business, "days": ["sat"]}])] == [
            "payment_freshness.age_minutes"]
    finally:
        engine.dispose()


def test_bad_options_are_refused_with_the_key() -> None:
    with pytest.raises(ValidationError, match=r"unknown query parameter.*:period_start"):
        SqlVolumeOptions(type="payment_volume", query=QUERY + " AND :period_start")
    with pytest.raises(ValidationError, match="not a three-letter ISO code"):
        SqlVolumeOptions(type="payment_volume", query=QUERY, amount_floor={"dollars": 1})
    with pytest.raises(ValidationError, match="shorter than window_minutes"):
        SqlVolumeOptions(type="payment_volume", query=QUERY, fast_window_minutes=60)
    with pytest.raises(ValidationError, match="unknown time zone"):
        SqlFreshnessOptions(type="payment_freshness", query=LAST, timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match=r"read-only|write|INSERT|DELETE"):
        SqlVolumeOptions(type="payment_volume", query="DELETE FROM payments")


def test_the_readme_example_is_a_valid_configuration() -> None:
    import re
    import tomllib

    from billing_monitor.settings.load import parse_settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    section = readme.split("### Money stopped flowing", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, flags=re.S)
    assert example is not None
    settings = parse_settings(tomllib.loads(example.group(1)), "README.md", {})
    payments, last = settings.checks["payments"], settings.checks["last_payment"]
    assert isinstance(payments, SqlVolumeOptions) and payments.amount_floor == {
        "eur": 500, "jpy": 50000}
    assert isinstance(last, SqlFreshnessOptions) and last.hours[0].max_silence_minutes == 20
