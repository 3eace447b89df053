"""Labelled synthetic payment series for the payment_volume benchmark, per minute
and per currency, seeded (bench/payment_volume.py).

Traffic: a daily curve (night lows around 04:00, a lunchtime and an evening
peak), quieter weekends, month-end peaks (last two days and the 1st), Black
Friday to Cyber Monday surge, slow growth, and a day-level random "weather"
factor so no two weeks are alike. Counts are Poisson per minute; amounts are
log-normal per payment in the currency's minor units (JPY is zero-decimal).

Incidents are multiplicative factors over [start, end) on one currency or all,
labelled so a benchmark can score detection delay.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Currency:
    code: str
    peak_per_minute: float  # mean payments per minute at the daily peak on a weekday
    median_amount: int  # minor units


DEFAULT_CURRENCIES = (
    Currency("usd", 8.0, 4_500),
    Currency("eur", 3.0, 3_900),
    Currency("jpy", 1.5, 6_000),  # zero-decimal: 6,000 yen
)


@dataclass(frozen=True)
class Incident:
    kind: str  # full_stop | drop_40 | slow_decline | currency_stop
    start: datetime
    end: datetime
    currency: str | None = None  # None: all currencies

    def factor(self, at: datetime) -> float:
        if not self.start <= at < self.end:
            return 1.0
        if self.kind in ("full_stop", "currency_stop"):
            return 0.0
        if self.kind == "drop_40":
            return 0.6
        if self.kind == "slow_decline":  # linear to -20 % at the end
            span = (self.end - self.start).total_seconds()
            return 1.0 - 0.2 * (at - self.start).total_seconds() / span
        raise ValueError(f"unknown incident kind {self.kind!r}")


@dataclass
class Series:
    start: datetime  # UTC, first minute
    minutes: int
    counts: dict[str, list[int]]
    amounts: dict[str, list[int]]
    incidents: list[Incident] = field(default_factory=list)

    def at(self, i: int) -> datetime:
        return self.start + i * MINUTE

    def index(self, t: datetime) -> int:
        return int((t - self.start) / MINUTE)


def daily(hour: float) -> float:
    """Share of the peak rate at a time of day: 0.06 at 04:00, 1.0 near 20:00."""
    lunch = math.exp(-((hour - 12.5) ** 2) / 8)
    evening = math.exp(-((hour - 20.0) ** 2) / 6)
    return 0.06 + 0.7 * lunch + 0.94 * evening * (1 if hour > 8 else 0.3)


def black_friday(year: int) -> date:
    nov1 = date(year, 11, 1)
    first_thursday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def day_factor(d: date) -> float:
    f = 0.75 if d.weekday() >= 5 else 1.0
    tomorrow = d + timedelta(days=1)
    if tomorrow.month != d.month or (tomorrow + timedelta(days=1)).month != d.month:
        f *= 1.5  # month end
    elif d.day == 1:
        f *= 1.3
    bf = black_friday(d.year)
    if d == bf:
        f *= 3.0
    elif bf < d <= bf + timedelta(days=3):
        f *= 2.0
    return f


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def generate(
    start: datetime, weeks: int, seed: int, incidents: Sequence[Incident] = (),
    currencies: Sequence[Currency] = DEFAULT_CURRENCIES, growth_per_week: float = 0.005,
    weather: float = 0.06,
) -> Series:
    """`weeks` of traffic from `start` (UTC, aware) with `incidents` applied."""
    rng = random.Random(seed)
    minutes = weeks * 7 * 24 * 60
    counts: dict[str, list[int]] = {c.code: [] for c in currencies}
    amounts: dict[str, list[int]] = {c.code: [] for c in currencies}
    day_noise: dict[date, float] = {}
    for i in range(minutes):
        t = start + i * MINUTE
        d = t.date()
        if d not in day_noise:
            day_noise[d] = math.exp(rng.gauss(0, weather))
        base = daily(t.hour + t.minute / 60) * day_factor(d) * day_noise[d]
        base *= (1 + growth_per_week) ** (i / 10080)
        for c in currencies:
            f = 1.0
            for inc in incidents:
                if inc.currency in (None, c.code):
                    f *= inc.factor(t)
            n = poisson(rng, c.peak_per_minute * base * f)
            counts[c.code].append(n)
            mu = math.log(c.median_amount)
            amounts[c.code].append(sum(round(rng.lognormvariate(mu, 0.6)) for _ in range(n)))
    return Series(start, minutes, counts, amounts, list(incidents))


def incident_plan(start: datetime, warmup_weeks: int, seed: int) -> list[Incident]:
    """Two of each incident kind at seeded daytime hours, on days far enough apart
    that no two fall on the same time of week within the baseline's 4 weeks."""
    rng = random.Random(seed)
    kinds = [("full_stop", 30, None), ("drop_40", 120, None), ("slow_decline", 24 * 60, None),
             ("currency_stop", 60, "eur")] * 2
    out = []
    day = warmup_weeks * 7 + 1
    for kind, length, cur in kinds:
        hour = rng.randint(9, 20) if kind != "slow_decline" else 6
        at = start + timedelta(days=day, hours=hour, minutes=rng.randint(0, 59))
        out.append(Incident(kind, at, at + timedelta(minutes=length), cur))
        day += 3  # a different weekday each time; 8 incidents span 24 days
    return out


def night_stop(start: datetime, warmup_weeks: int) -> Incident:
    """A full stop at 03:30 on a weekday: below min_volume, freshness's job."""
    at = start + timedelta(days=warmup_weeks * 7 + 2, hours=3, minutes=30)
    return Incident("full_stop", at, at + timedelta(minutes=30))


__all__ = ["UTC"]
