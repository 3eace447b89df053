"""The seasonal baseline (checks/seasonal.py) and the judgement of every currency
(checks/payment_volume.py) over an in-memory source of window totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing_monitor.checks.payment_volume import (
    JUDGED,
    PaymentVolumeOptions,
    Totals,
    WarmingUp,
    Window,
    judge_all,
)
from billing_monitor.checks.seasonal import (
    Rule,
    State,
    baseline,
    judge,
    minor_exponent,
    same_time_of_week,
    to_major,
    to_minor,
)

RULE = Rule(drop=0.3, floor=10, min_baseline=30, band_k=4)
END = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)


def test_zero_and_three_decimal_currencies_follow_stripes_list() -> None:
    assert [minor_exponent(c) for c in ("usd", "JPY", "krw", "ugx", "kwd", "isk", "huf")] == [
        2, 0, 0, 0, 3, 2, 2]
    assert to_minor(10.5, "usd") == 1050 and to_minor(500, "jpy") == 500
    assert to_major(5120, "kwd") == 5.12
    with pytest.raises(ValueError, match="'us' is not a three-letter ISO code"):
        minor_exponent("us")


def test_median_ignores_one_odd_week_and_the_band_is_counting_and_daily_noise() -> None:
    base = baseline([100, 300, 104, 98], band_k=4)
    assert base is not None and base.median == 102 and base.weeks == 4
    assert base.lower == pytest.approx(102 - 4 * 102 ** 0.5)  # Poisson only
    daily = baseline([400, None, 400, 400], band_k=2, noise=0.1)
    assert daily is not None and daily.weeks == 3
    assert daily.sigma == pytest.approx((400 + 40 ** 2) ** 0.5)
    amounts = baseline([10_000] * 4, band_k=1, unit=100)  # 100 payments of ~50
    assert amounts is not None and amounts.lower == pytest.approx(10_000 - 1_000)


def test_alerts_only_past_the_drop_the_floor_and_the_band() -> None:
    history = [200, 210, 190, 205]
    low = judge(100, history, RULE)
    assert low.state is State.LOW and low.drop == pytest.approx(1 - 100 / 202.5)
    assert judge(150, history, RULE).state is State.OK  # 26 % < 30 %
    # A 50 % drop of 20 payments is under a floor of 25
    assert judge(20, [40, 40, 40, 40], Rule(drop=0.3, floor=25, min_baseline=10)).state \
        is State.OK
    # 35 % below, but inside the band of 100 +- 4 * sqrt(100 + 5^2)
    assert judge(65, [100, 160, 40, 100], RULE).state is State.OK
    assert judge(55, [100, 160, 40, 100], RULE).state is State.LOW


def test_quiet_hours_under_min_volume_are_not_judged() -> None:
    v = judge(0, [5, 6, 5, 4], RULE)
    assert v.state is State.QUIET and "under min_volume 30" in v.reason


def test_warm_up_is_unknown_with_a_reason() -> None:
    v = judge(0, [500, None, None, None], RULE)
    assert v.state is State.UNKNOWN
    assert v.reason == "warm-up: 1 of 4 weeks of history at this time of week, 3 needed"
    assert judge(0, [500, 500, 500, None], RULE).state is State.LOW


def test_same_time_of_week_keeps_local_wall_clock_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    end = datetime(2026, 4, 9, 8, 0, tzinfo=UTC)  # 10:00 in Paris (CEST)
    ends = same_time_of_week(end, 3, paris)
    assert [e.astimezone(paris).hour for e in ends] == [10, 10, 10]
    assert ends[0] == datetime(2026, 4, 2, 8, 0, tzinfo=UTC)  # still CEST
    assert ends[1] == datetime(2026, 3, 26, 9, 0, tzinfo=UTC)  # CET until March 29


class Source:
    """Window totals by (start, end); a missing key is no history."""

    def __init__(self, windows: dict[tuple[datetime, datetime], Window]) -> None:
        self.windows = windows

    def totals(self, start: datetime, end: datetime) -> Window | None:
        return self.windows.get((start, end))


def steady(weeks: range, cur: str, per_minute: float, amount: int,
           now: float | None = None) -> dict[tuple[datetime, datetime], Window]:
    out = {}
    for minutes in (60, 15):
        for k in weeks:
            e = END - timedelta(weeks=k)
            n = round((now if k == 0 and now is not None else per_minute) * minutes)
            out[(e - timedelta(minutes=minutes), e)] = {cur: Totals(n, n * amount)}
    return out


def test_warm_up_everywhere_is_unknown_with_the_reason() -> None:
    with pytest.raises(WarmingUp, match="warm-up: 2 of 4 weeks"):
        judge_all(Source(steady(range(3), "usd", 3, 100, now=0)), END,
                  PaymentVolumeOptions(type="payment_volume"))


def test_amounts_are_judged_only_where_the_count_is() -> None:
    options = PaymentVolumeOptions(type="payment_volume", amount_floor={"jpy": 1000})
    # 60 payments an hour (under min_volume 100), the amount halved: quiet
    quiet = steady(range(5), "jpy", 1, 6000) | {
        (END - timedelta(minutes=60), END): {"jpy": Totals(60, 60 * 3000)}}
    ms = judge_all(Source(quiet), END, options)
    assert [m.value for m in ms if m.name == JUDGED] == [0.0]
    busy = steady(range(5), "jpy", 3, 6000) | {
        (END - timedelta(minutes=60), END): {"jpy": Totals(180, 180 * 3000)}}
    ms = judge_all(Source(busy), END, options)
    below = [m for m in ms if m.name == JUDGED]
    assert [m.value for m in below] == [1.0]
    assert below[0].samples == ("jpy amount over 60 min: 50% below the baseline 1.08e+06 "
                                "(alert at 30%)",)
