"""stripe_payment_volume's back-fill from Events (checks/stripe/volume_fill.py)
against the spec-validating Stripe peer with Stripe's 30-day retention of
events on, and a real SQLite state store: a new install judges on its first
run; a back-fill cut short resumes at the next page; a gap is filled; amounts
per currency in minor units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from billing_monitor.alerting.history_fill import FillingHistory
from billing_monitor.alerting.store import open_state
from billing_monitor.checks.history import series_key
from billing_monitor.checks.payment_volume import JUDGED, WarmingUp
from billing_monitor.checks.stripe.state import SqlCursorStore
from billing_monitor.checks.stripe.volume import StripePaymentVolume, StripeVolumeOptions
from tests.peers.fake_stripe import api_for, context, event
from tests.stripe_fixtures import fake

__all__ = ["fake"]  # fixtures

T0 = 1_790_000_040  # on the minute
WEEK = 7 * 86400
HOUR_60 = ("currency:usd", "measure:count", "window:60m")


@pytest.fixture
def stores(tmp_path: Path) -> tuple[SqlCursorStore, FillingHistory]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    return SqlCursorStore(create_engine(url)), FillingHistory(open_state(url))


def hour_of_payments(server: Any, end: int, per_minute: int = 2, currency: str = "usd",
                     amount: int = 2500, account: str | None = None, tag: str = "") -> None:
    """`per_minute` successful PaymentIntents a minute in the hour before `end`."""
    for m in range(1, 61):
        for i in range(per_minute):
            at = end - 60 * m + 20 * i
            server.add("events", event(
                f"evt_{tag}{end}_{m}_{i}", "payment_intent.succeeded", at,
                {"id": f"pi_{tag}{end}_{m}_{i}", "object": "payment_intent",
                 "currency": currency, "amount": amount, "amount_received": amount}),
                account=account)


def weeks_of_traffic(server: Any, weeks: range, now_too: bool = True) -> None:
    """The hour before this time of week, `weeks` weeks back (oldest first, as
    Stripe creates them), and the current hour."""
    for k in sorted(weeks, reverse=True):
        hour_of_payments(server, T0 - k * WEEK)
    if now_too:
        hour_of_payments(server, T0)


def check(url: str, stores: Any, *, clock: list[float] | None = None,
          **options: Any) -> StripePaymentVolume:
    cursors, history = stores
    now = clock if clock is not None else [0.0]
    return StripePaymentVolume(
        "volume", api_for(url), cursors,
        StripeVolumeOptions(type="stripe_payment_volume", **options), history,
        monotonic=lambda: now[0])


def values(ms: Any, name: str) -> dict[tuple[str, ...], float]:
    return {m.tags: m.value for m in ms if m.name == name}


def recorded(history: FillingHistory, at: int, tags: tuple[str, ...]) -> float | None:
    t = datetime.fromtimestamp(at, UTC)
    key = series_key("payment_volume.value", tags)
    points = [p for p in history.series("volume", t, t + timedelta(minutes=5))
              if p.tags == key]
    return points[0].value if points else None


def test_a_new_install_judges_on_its_first_run_from_stripe_events(
    fake: Any, stores: Any
) -> None:
    server, url = fake
    server.clock = lambda: T0
    weeks_of_traffic(server, range(1, 6))  # week 5 is past Stripe's 30 days
    ms = list(check(url, stores).collect(context(T0)))
    assert values(ms, JUDGED) == {("currency:usd",): 0.0}
    assert values(ms, "payment_volume.baseline")[HOUR_60] == 120
    history = stores[1]
    # The bucket holding the same time of week, 1 and 4 weeks back: the hour
    # before its last minute, as a run every minute would have recorded it.
    for k in (1, 4):
        assert recorded(history, T0 - k * WEEK - 60, HOUR_60) == 120
    assert recorded(history, T0 - 5 * WEEK - 60, HOUR_60) is None  # Stripe no longer has it
    reads = [r for r in server.requests if "created[lt]" in r]
    assert reads and all("types[0]=payment_intent.succeeded&types[1]=charge.succeeded" in r
                         for r in reads)
    assert not server.refused


def test_a_full_stop_pages_on_the_first_run(fake: Any, stores: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    weeks_of_traffic(server, range(1, 5), now_too=False)
    hour_of_payments(server, T0 - 600, per_minute=2)  # nothing in the last 10 minutes
    ms = list(check(url, stores).collect(context(T0)))
    assert values(ms, JUDGED) == {("currency:usd",): 1.0}


def test_a_backfill_cut_at_its_page_bound_resumes_at_the_next_page(
    fake: Any, stores: Any
) -> None:
    server, url = fake
    at = [T0]
    server.clock = lambda: at[0]
    weeks_of_traffic(server, range(1, 5))  # 600 events: 6 pages
    volume = check(url, stores, history_pages=2)
    with pytest.raises(WarmingUp, match=r"back-filling from Stripe's Events: history filled "
                                        r"back to .* \(2 pages this run; resumes next run\)"):
        volume.collect(context(T0))
    runs = 1
    while True:
        at[0] += 60
        runs += 1
        try:
            ms = list(volume.collect(context(at[0])))
            break
        except WarmingUp:
            assert runs < 10
    assert values(ms, JUDGED) == {("currency:usd",): 0.0}
    fills = [r for r in server.requests if "created[lt]" in r]  # the back-fill's reads
    # Each page once: the second page of a run, and the first of the next one,
    # go on from the last event read.
    after = [r.split("starting_after=")[1].split("&")[0] for r in fills if "starting_after" in r]
    assert len(after) == len(set(after)) == len(fills) - 1
    history = stores[1]
    for k in (1, 2, 3, 4):
        assert recorded(history, T0 - k * WEEK - 60, HOUR_60) == 120


def test_the_backfill_uses_at_most_half_the_time_left(fake: Any, stores: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    weeks_of_traffic(server, range(1, 5))
    clock = [0.0]
    volume = check(url, stores, clock=clock)
    ctx = context(T0)
    deadline_left = ctx.deadline  # monotonic of the real clock; ours starts at 0
    clock[0] = deadline_left  # no time left at all: no back-fill page, the run still judges
    with pytest.raises(WarmingUp, match=r"\(0 pages this run; resumes next run\)"):
        volume.collect(ctx)
    assert [r for r in server.requests if "created[lt]" in r] == []


def test_a_gap_in_the_runs_is_filled_from_events(fake: Any, stores: Any) -> None:
    server, url = fake
    at = [T0]
    server.clock = lambda: at[0]
    weeks_of_traffic(server, range(1, 5))
    volume = check(url, stores)
    volume.collect(context(T0))
    later = T0 + 3 * 3600  # the monitor was stopped for three hours
    for hour in (1, 2, 3):
        hour_of_payments(server, T0 + hour * 3600, per_minute=3, tag="gap")
    at[0] = later
    with pytest.raises(WarmingUp):  # no payments at this time of week in past weeks
        volume.collect(context(later))
    history = stores[1]
    # Windows ending in the gap, filled from the events read back.
    assert recorded(history, T0 + 2 * 3600 - 60, HOUR_60) == 180
    assert recorded(history, T0 + 3600 - 60, HOUR_60) == 180


def test_amounts_per_currency_in_minor_units_with_zero_and_three_decimals(
    fake: Any, stores: Any
) -> None:
    server, url = fake
    server.clock = lambda: T0
    for k in (4, 3, 2, 1, 0):
        hour_of_payments(server, T0 - k * WEEK, 2, "usd", 2500, tag="u")
        hour_of_payments(server, T0 - k * WEEK, 1, "jpy", 6000, tag="j")  # 6,000 yen
        hour_of_payments(server, T0 - k * WEEK, 1, "kwd", 1250, tag="k")  # 1.250 KWD
    ms = list(check(url, stores, amount_floor={"usd": 300, "jpy": 15_000, "kwd": 10},
                    amount_min_volume={"usd": 1500, "jpy": 75_000, "kwd": 20}
                    ).collect(context(T0)))
    got = values(ms, "payment_volume.value")
    assert got[("currency:usd", "measure:amount", "window:60m")] == 120 * 2500
    assert got[("currency:jpy", "measure:amount", "window:60m")] == 60 * 6000
    assert got[("currency:kwd", "measure:amount", "window:60m")] == 60 * 1250
    assert values(ms, "payment_volume.baseline")[
        ("currency:kwd", "measure:amount", "window:60m")] == 60 * 1250  # back-filled
    assert values(ms, JUDGED)[("currency:jpy",)] == 0.0


def test_a_drop_in_amount_alone_is_below_once_configured(fake: Any, stores: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    for k in (4, 3, 2, 1):
        hour_of_payments(server, T0 - k * WEEK, 2, "jpy", 6000)
    hour_of_payments(server, T0, 2, "jpy", 600)  # same count, a tenth of the yen
    ms = list(check(url, stores, amount_floor={"jpy": 15_000},
                    amount_min_volume={"jpy": 75_000}).collect(context(T0)))
    below = next(m for m in ms if m.name == JUDGED and m.tags == ("currency:jpy",))
    assert below.value == 1.0
    assert any("jpy amount over 60 min" in s for s in below.samples)


@pytest.mark.postgres
def test_on_postgresql_the_backfill_judges_and_old_integer_counts_are_widened(
    fake: Any, pg_server: Any
) -> None:
    url = pg_server.fresh_database("volume_fill")
    engine = create_engine(url)
    with engine.begin() as conn:  # a cursor store made before amounts: INTEGER counts
        conn.execute(text("CREATE TABLE stripe_event_counts (scope VARCHAR(200), "
                          "bucket BIGINT, key VARCHAR(200), count INTEGER NOT NULL, "
                          "PRIMARY KEY (scope, bucket, key))"))
    server, api_url = fake
    server.clock = lambda: T0
    for k in (4, 3, 2, 1, 0):
        # A payment of 100M IDR a minute: 10^10 minor units (two decimals), past 2^31
        hour_of_payments(server, T0 - k * WEEK, 1, "idr", 10**10, tag="i")
    stores = (SqlCursorStore(engine), FillingHistory(open_state(url)))
    ms = list(check(api_url, stores).collect(context(T0)))
    assert values(ms, "payment_volume.value")[
        ("currency:idr", "measure:amount", "window:60m")] == 60 * 10**10
    assert values(ms, "payment_volume.baseline")[
        ("currency:idr", "measure:count", "window:60m")] == 60
    with engine.connect() as conn:
        kind = conn.execute(text("SELECT data_type FROM information_schema.columns WHERE "
                                 "table_name = 'stripe_event_counts' AND column_name = 'count'"))
        assert kind.scalar() == "bigint"
    engine.dispose()


def test_weeks_older_than_stripe_keeps_are_said_plainly(fake: Any, stores: Any) -> None:
    server, url = fake
    server.clock = lambda: T0
    weeks_of_traffic(server, range(1, 6))  # week 5 (35 days back) is no longer listed
    # Five weeks asked, four back-filled: judged on those four.
    ms = list(check(url, stores, weeks=5).collect(context(T0)))
    assert values(ms, JUDGED) == {("currency:usd",): 0.0}
    with pytest.raises(WarmingUp, match=r"warm-up: 4 of 5 weeks of history at this time of "
                                        r"week, 5 needed; back-filled from Stripe's Events "
                                        r"since .*; Stripe keeps events 30 days"):
        check(url, stores, weeks=5, min_weeks=5).collect(context(T0))
