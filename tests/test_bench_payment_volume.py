"""The payment_volume benchmark's machinery at a small size (no timing here:
the figures live in docs/benchmarks.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bench.payment_series import Incident, generate
from bench.payment_volume import START, SeriesSource, alerts, delays, options_from, run
from billing_monitor.checks.payment_volume import Totals, Window
from billing_monitor.checks.volume_replay import Change, replay, replay_policies


def test_a_daytime_full_stop_is_found_within_15_minutes_and_nothing_else_pages() -> None:
    stop_at = START + timedelta(weeks=4, days=1, hours=12, minutes=7)  # a Tuesday
    stop = Incident("full_stop", stop_at, stop_at + timedelta(minutes=30))
    series = generate(START, 5, seed=7, incidents=[stop])  # run() replays the 5th week
    found, false = delays(run(series, options_from([])), [stop], timedelta(minutes=60))
    assert false == []
    delay = found[stop]
    # The 10-minute window is 80 % short after 8 minutes; four runs in a row
    # page three minutes later; Poisson noise moves it by a minute or two.
    assert delay is not None and 9 <= delay <= 14


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
    assert (o.alert.trigger_after, o.alert.resolve_after) == (4, 3)


class Scripted:
    """A VolumeSource: steady 200 an hour in USD and EUR, then USD stops at
    `usd_stop` and EUR at `eur_stop`; four weeks of history before."""

    def __init__(self, usd_stop: datetime, eur_stop: datetime) -> None:
        self.stops = {"usd": usd_stop, "eur": eur_stop}

    def totals(self, start: datetime, end: datetime) -> Window | None:
        out: Window = {}
        for cur, stop in self.stops.items():
            minutes = max(0.0, (min(end, stop) - start).total_seconds() / 60)
            out[cur] = Totals(round(minutes * 200 / 60), 0)
        return out


def test_several_policies_on_one_pass_and_one_incident_per_check() -> None:
    t0 = START + timedelta(weeks=5, hours=12)
    source = Scripted(t0 + timedelta(minutes=30), t0 + timedelta(minutes=35))
    options = options_from([])
    own = options.alert  # the check's own policy, then one needing two more runs
    policies = [own, own.model_copy(update={"trigger_after": own.trigger_after + 2})]
    per_currency = replay_policies(source, options, t0, t0 + timedelta(hours=1),
                                   timedelta(minutes=1), policies)
    alone = replay(source, options, t0, t0 + timedelta(hours=1), timedelta(minutes=1))
    assert [(c.at, c.currency) for c in per_currency[0].changes] == [
        (c.at, c.currency) for c in alone.changes]
    opened = {c.currency: c.at for c in per_currency[0].changes if c.event == "alert"}
    assert set(opened) == {"usd", "eur", "all"}
    later = {c.currency: c.at for c in per_currency[1].changes if c.event == "alert"}
    assert all(later[c] == opened[c] + timedelta(minutes=2) for c in opened)
    # As the alert engine pages: one incident for the check, opened when the
    # first currency had been below `trigger_after` runs in a row.
    [check] = replay_policies(source, options, t0, t0 + timedelta(hours=1),
                              timedelta(minutes=1), policies[:1], per_check=True)
    assert [(c.at, c.currency, c.event) for c in check.changes] == [
        (min(opened.values()), "check", "alert")]
    # USD stopped first, and took the total (`all`) below with it; EUR not yet.
    assert set(check.opened_by[0].split("+")) == {"usd", "all"}
    [page] = alerts(check.changes, check.opened_by)
    assert page.currency == check.opened_by[0] and page.end is None
