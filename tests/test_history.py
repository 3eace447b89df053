"""The measurement history (monitor/alerting/history.py) in the state store, on
a real SQLite file and on PostgreSQL, with a fixed clock; and the alert engine
recording every run's values into it."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from billing_monitor.alerting.history import (
    StoreHistory,
    bucket_of,
    prune,
    record,
    series,
    width_for,
)
from billing_monitor.alerting.tables import measurements as M
from billing_monitor.checks.contract import Evaluation, Measurement, Status
from billing_monitor.checks.history import HistoryReader, NullHistory, series_key, tags_key
from tests.alerting_support import make_engine, options, result, state_url, store

__all__ = ["state_url", "store"]  # fixtures

T0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # a bucket start (and a DST night in Europe)


def rows(store: Engine, resolution: int = 300) -> list[tuple[object, ...]]:
    with store.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(M.c.check_name, M.c.tags, M.c.resolution_s, M.c["count"], M.c["sum"],
                   M.c["min"], M.c["max"], M.c["last"]).where(M.c.resolution_s == resolution)
            .order_by(M.c.tags, M.c.bucket_start))]


def test_runs_in_one_bucket_are_folded_into_one_row(store: Engine) -> None:
    for minute, value in [(0, 5.0), (1, 2.0), (4, 9.0), (4.99, 3.0)]:
        with store.begin() as conn:
            record(conn, "unbilled", T0 + timedelta(minutes=minute), [("", value)])
    assert rows(store) == [("unbilled", "", 300, 4, 19.0, 2.0, 9.0, 3.0)]
    assert rows(store, 3600) == [("unbilled", "", 3600, 4, 19.0, 2.0, 9.0, 3.0)]


def test_the_next_bucket_starts_a_new_row_and_tags_are_their_own_series(store: Engine) -> None:
    with store.begin() as conn:
        record(conn, "c", T0 + timedelta(minutes=4), [("plan:a", 1.0), ("plan:b", 10.0)])
        record(conn, "c", T0 + timedelta(minutes=5), [("plan:a", 2.0)])
    got = rows(store)
    assert got == [("c", "plan:a", 300, 1, 1.0, 1.0, 1.0, 1.0),
                   ("c", "plan:a", 300, 1, 2.0, 2.0, 2.0, 2.0),
                   ("c", "plan:b", 300, 1, 10.0, 10.0, 10.0, 10.0)]
    assert rows(store, 3600) == [("c", "plan:a", 3600, 2, 3.0, 1.0, 2.0, 2.0),
                                  ("c", "plan:b", 3600, 1, 10.0, 10.0, 10.0, 10.0)]
    with store.connect() as conn:
        starts = conn.execute(select(M.c.bucket_start).where(M.c.tags == "plan:a",
                                                             M.c.resolution_s == 300)
                              .order_by(M.c.bucket_start)).scalars().all()
    assert [s.replace(tzinfo=UTC) if s.tzinfo is None else s for s in starts] == [
        T0, T0 + timedelta(minutes=5)]


def test_values_that_are_not_numbers_are_left_out_and_duplicates_merged(store: Engine) -> None:
    with store.begin() as conn:
        record(conn, "c", T0, [("", math.nan), ("", 4.0), ("", math.inf), ("", 6.0)])
        record(conn, "c", T0, [("x:1", -math.inf)])  # nothing to write: no row at all
    assert rows(store) == [("c", "", 300, 2, 10.0, 4.0, 6.0, 6.0)]


def test_record_writes_inside_the_callers_transaction(store: Engine) -> None:
    with store.connect() as conn:
        trans = conn.begin()
        record(conn, "c", T0, [("", 1.0)])
        trans.rollback()
    assert rows(store) == []


def test_a_time_without_a_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        bucket_of(datetime(2026, 1, 1, 12, 0))


def test_tags_key_is_canonical() -> None:
    assert tags_key(["plan:b", "currency:eur"]) == tags_key(("currency:eur", "plan:b"))
    assert tags_key(["plan:b", "currency:eur"]) == "currency:eur,plan:b"
    assert tags_key([]) == ""


def test_bucket_of_counts_from_the_epoch_in_utc() -> None:
    berlin_like = datetime(2026, 3, 29, 3, 7, 59, tzinfo=UTC) + timedelta()
    assert bucket_of(berlin_like) == datetime(2026, 3, 29, 3, 5, tzinfo=UTC)


def test_prune_deletes_what_is_older_than_keep_days_only(store: Engine) -> None:
    now = T0 + timedelta(days=40)
    with store.begin() as conn:
        for days in (0, 4, 5, 6, 40):
            record(conn, "c", T0 + timedelta(days=days), [("", float(days))])
        deleted = prune(conn, now, keep_days=35)
    assert deleted == 4  # days 0 and 4, both resolutions; day 5 is 35 days old: it stays
    assert [r[7] for r in rows(store)] == [5.0, 6.0, 40.0]
    assert [r[7] for r in rows(store, 3600)] == [5.0, 6.0, 40.0]


def test_prune_refuses_a_window_of_nothing(store: Engine) -> None:
    with store.begin() as conn, pytest.raises(ValueError, match="keep_days"):
        prune(conn, T0, keep_days=0)


def _fill_week(store: Engine) -> None:
    """A value every 5 minutes for 7 days: value = index, two tags series."""
    with store.begin() as conn:
        for i in range(7 * 288):
            at = T0 + timedelta(minutes=5 * i, seconds=17)
            record(conn, "c", at, [("plan:a", float(i)), ("plan:b", float(-i))])
        record(conn, "other", T0, [("", 99.0)])


def test_series_downsamples_a_week_to_hourly_points(store: Engine) -> None:
    _fill_week(store)
    with store.connect() as conn:
        got = series(conn, "c", T0, T0 + timedelta(days=7), max_points=168)
    a = [p for p in got if p.tags == "plan:a"]
    b = [p for p in got if p.tags == "plan:b"]
    assert len(a) == len(b) == 168 and len(got) == 336
    assert [p.at for p in a] == [T0 + timedelta(hours=h) for h in range(168)]
    first, last = a[0], a[-1]
    assert (first.value, first.low, first.high, first.count) == (11.0, 0.0, 11.0, 12)
    assert (last.value, last.low, last.high, last.count) == (2015.0, 2004.0, 2015.0, 12)
    assert (b[5].value, b[5].low, b[5].high) == (-71.0, -71.0, -60.0)


def test_series_keeps_full_resolution_when_it_fits_and_reads_one_window(
        store: Engine) -> None:
    _fill_week(store)
    since = T0 + timedelta(hours=1, minutes=2)  # inside a bucket: that bucket counts
    with store.connect() as conn:
        got = series(conn, "c", since, T0 + timedelta(hours=2), max_points=500)
    a = [p for p in got if p.tags == "plan:a"]
    assert [p.value for p in a] == [float(i) for i in range(12, 24)]
    assert all(p.count == 1 and p.low == p.high == p.value for p in a)
    with store.connect() as conn:
        assert [p.value for p in series(conn, "other", T0, T0 + timedelta(days=1))] == [99.0]
        assert series(conn, "missing", T0, T0 + timedelta(days=1)) == []


def test_width_is_whole_buckets_and_never_exceeds_max_points() -> None:
    week = timedelta(days=7)
    assert width_for(T0, T0 + week, 168) == 3600
    assert width_for(T0, T0 + week, 100) == 6300  # 2016 buckets / 100 -> 21 per point
    for n in (1, 7, 100, 168, 2016, 5000):
        w = width_for(T0, T0 + week, n)
        assert w % 300 == 0 and math.ceil(week.total_seconds() / w) <= n


def test_the_readers_are_interchangeable(store: Engine) -> None:
    _fill_week(store)
    readers: list[HistoryReader] = [StoreHistory(store), NullHistory()]
    got = [r.series("c", T0, T0 + timedelta(days=7), max_points=7) for r in readers]
    with store.connect() as conn:
        assert got[0] == series(conn, "c", T0, T0 + timedelta(days=7), max_points=7)
        assert conn.execute(select(func.count()).select_from(M)).scalar() == 2 * (2016 + 168) + 2
    assert len(got[0]) == 14 and got[1] == []
    assert [(p.value, p.low, p.high, p.count) for p in got[0][:2]] == [
        (287.0, 0.0, 287.0, 288), (575.0, 288.0, 575.0, 288)]


def test_a_window_not_on_the_hour_reads_the_five_minute_buckets(store: Engine) -> None:
    _fill_week(store)
    since = T0 + timedelta(minutes=10)
    with store.connect() as conn:
        got = series(conn, "c", since, since + timedelta(hours=2), max_points=2)
    a = [(p.at, p.value, p.low, p.high, p.count) for p in got if p.tags == "plan:a"]
    assert a == [(since, 13.0, 2.0, 13.0, 12), (since + timedelta(hours=1), 25.0, 14.0, 25.0, 12)]


def test_series_key_names_the_metric_so_two_measurements_never_share_a_series() -> None:
    assert series_key("stripe.payments_failed", ("currency:eur",)) == (
        "currency:eur,metric:stripe.payments_failed")
    assert series_key("a") != series_key("b")


def test_the_alert_engine_records_every_run_into_the_history(store: Engine) -> None:
    opts = options()
    engine = make_engine(store, {"unbilled": opts}, [])
    first = result("unbilled", 3.0, T0, opts)
    extra = Evaluation(Measurement("unbilled_eur", 7.0, ("currency:eur",)), Status.OK)
    engine.emit(replace(first, evaluations=(*first.evaluations, extra)))
    engine.emit(result("unbilled", 12.0, T0 + timedelta(minutes=2), opts))
    engine.emit(result("unbilled", None, T0 + timedelta(minutes=6), opts))  # UNKNOWN: no value
    got = StoreHistory(store).series("unbilled", T0, T0 + timedelta(hours=1), max_points=12)
    assert [(p.tags, p.at, p.value, p.low, p.high, p.count) for p in got] == [
        ("currency:eur,metric:unbilled_eur", T0, 7.0, 7.0, 7.0, 1),
        ("metric:unbilled", T0, 12.0, 3.0, 12.0, 2),
    ]


def test_the_alert_engine_prunes_the_history_once_an_hour(store: Engine) -> None:
    opts = options()
    engine = make_engine(store, {"unbilled": opts}, [])
    engine.emit(result("unbilled", 1.0, T0, opts))
    engine.emit(result("unbilled", 2.0, T0 + timedelta(days=36), opts))  # prunes day 0
    engine.emit(result("unbilled", 3.0, T0 + timedelta(days=71, minutes=30), opts))
    with store.connect() as conn:
        left = conn.execute(select(M.c["last"]).where(M.c.resolution_s == 300)
                            .order_by(M.c.bucket_start)).scalars().all()
    assert left == [3.0]  # day 36 went at day 71


def test_the_pages_window_cache_reads_what_a_fresh_read_reads(store: Engine) -> None:
    from billing_monitor.alerting.history_bulk import WindowCache, window

    _fill_week(store)
    cache = WindowCache()
    since, now = T0, T0 + timedelta(days=7)
    with store.connect() as conn:
        first = cache.window(conn, ["c", "other", "none"], since, now, 169)
        assert first == window(conn, ["c", "other", "none"], since, now, 169)
    assert len(first["c"]["plan:a"]) == 168 and first["none"] == {}
    with store.begin() as conn:  # a run in the last hour, and one in a new series
        record(conn, "c", now - timedelta(minutes=20), [("plan:a", 1e6), ("plan:z", 5.0)])
    with store.connect() as conn:
        again = cache.window(conn, ["c", "other", "none"], since, now, 169)
        assert again == window(conn, ["c", "other", "none"], since, now, 169)
    assert again["c"]["plan:a"][-1][3] == 1e6 and again["c"]["plan:z"][0][1] == 5.0
    later = now + timedelta(hours=1, minutes=5)  # the hour rolled over: final hours read again
    with store.begin() as conn:
        record(conn, "c", now + timedelta(minutes=30), [("plan:a", 7.0)])
    with store.connect() as conn:
        rolled = cache.window(conn, ["c"], since + timedelta(hours=1), later, 169)
        assert rolled == window(conn, ["c"], since + timedelta(hours=1), later, 169)
    assert rolled["c"]["plan:a"][-1][1] == 7.0


def test_the_history_is_pruned_again_exactly_an_hour_after_the_last_prune(
    store: Engine,
) -> None:
    opts = options()
    first = make_engine(store, {"unbilled": opts}, [])
    first.emit(result("unbilled", 1.0, T0, opts))
    first.emit(result("unbilled", 2.0, T0 + timedelta(hours=1), opts))

    def left() -> list[float]:
        with store.connect() as conn:
            return list(conn.execute(select(M.c["last"]).where(M.c.resolution_s == 300)
                                     .order_by(M.c.bucket_start)).scalars().all())

    later = make_engine(store, {"unbilled": opts}, [])  # a restart: prunes at its first run
    at = T0 + timedelta(days=35, minutes=30)
    later.emit(result("unbilled", 3.0, at, opts))
    assert left() == [2.0, 3.0]  # older than 35 days: T0's bucket
    # 59 min 59 s later T0 + 1 h is past 35 days too, but the last prune is
    # not an hour old: it stays until the run an hour after that prune.
    later.emit(result("unbilled", 4.0, at + timedelta(minutes=59, seconds=59), opts))
    assert left() == [2.0, 3.0, 4.0]
    later.emit(result("unbilled", 5.0, at + timedelta(hours=1), opts))
    assert left() == [3.0, 4.0, 5.0]
