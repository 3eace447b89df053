"""The payment_volume benchmark's machinery at a small size (no timing here:
the figures live in docs/benchmarks.md)."""

from __future__ import annotations

from datetime import timedelta

from bench.payment_series import Incident, generate
from bench.payment_volume import START, SeriesSource, alerts, delays, options_from, run
from billing_monitor.checks.volume_replay import Change


def test_a_daytime_full_stop_is_found_within_15_minutes_and_nothing_else_pages() -> None:
    stop_at = START + timedelta(weeks=4, days=1, hours=12, minutes=7)  # a Tuesday
    stop = Incident("full_stop", stop_at, stop_at + timedelta(minutes=30))
    series = generate(START, 5, seed=7, incidents=[stop])  # run() replays the 5th week
    found, false = delays(run(series, options_from([])), [stop], timedelta(minutes=60))
    assert false == []
    delay = found[stop]
    # The 10-minute window is 80 % short after 8 minutes; three runs in a row
    # page two minutes later; Poisson noise moves it by a minute or two.
    assert delay is not None and 8 <= delay <= 13


def test_the_source_knows_nothing_before_the_series() -> None:
    series = generate(START, 1, seed=1)
    source = SeriesSource(series)
    assert source.totals(START - timedelta(minutes=60), START) is None
    hour = source.totals(START + timedelta(hours=19), START + timedelta(hours=20))
    assert hour is not None
    assert hour["usd"].count == sum(series.counts["usd"][19 * 60:20 * 60])
    assert hour["jpy"].amount == sum(series.amounts["jpy"][19 * 60:20 * 60])


def test_alerts_pair_each_alert_with_its_resolve() -> None:
    t = START + timedelta(days=30)
    changes = [Change(t, "usd", "alert"), Change(t + timedelta(minutes=5), "eur", "alert"),
               Change(t + timedelta(minutes=9), "usd", "resolve")]
    got = alerts(changes)
    assert [(a.currency, a.start, a.end) for a in got] == [
        ("usd", t, t + timedelta(minutes=9)), ("eur", t + timedelta(minutes=5), None)]


def test_options_from_the_command_line() -> None:
    o = options_from(["drop=0.25", "min_volume=200"])
    assert o.drop == 0.25 and o.min_volume == 200 and o.amount_floor["jpy"] == 15_000


def test_alert_policy_options_from_the_command_line() -> None:
    o = options_from(["alert.resolve_after=3"])
    assert (o.alert.trigger_after, o.alert.resolve_after) == (3, 3)
