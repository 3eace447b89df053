"""The seasonal baseline of the payment volume checks, as pure functions.

Volume: the current window's value (a count, or an amount in minor units of one
currency) against the same window at the same time of week over the last N
weeks. The baseline is the median of those weeks: one odd week (Black Friday,
a past incident) does not move it. The band is the baseline minus `band_k`
sigmas of a noise model: counting noise (Poisson: sqrt(baseline) for counts)
plus day-to-day variation (`noise` x baseline). Not the MAD of the weeks: the
MAD of four numbers is zero or several times the true spread by chance, which
made the band swallow real drops (a 40 % drop found after 70 minutes instead
of 60) without fewer false alerts (docs/benchmarks.md section 8).

The judged number is the relative drop below the baseline, reported only when
all three gates pass: the baseline is at least `min_baseline` (no pages at
4 AM for 3 payments instead of 5), the absolute shortfall is at least `floor`,
and the value is below the band.

Fewer than `min_weeks` weeks of history at this time of week: UNKNOWN with the
reason (warm-up), never a page.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# Stripe's published lists (docs.stripe.com/currencies). ISK, HUF and TWD stay
# two-decimal in the API even though they are charged in whole units.
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
     "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
_SCALE: dict[int, int] = {0: 1, 2: 100, 3: 1000}


def minor_exponent(currency: str) -> int:
    """Digits after the decimal point of Stripe amounts in `currency`."""
    c = currency.lower()
    if len(c) != 3 or not c.isalpha():
        raise ValueError(f"currency {currency!r} is not a three-letter ISO code")
    return 0 if c in ZERO_DECIMAL else 3 if c in THREE_DECIMAL else 2


def to_minor(major: float, currency: str) -> int:
    """A configured amount (10.50 USD, 500 JPY) in Stripe's minor units."""
    return round(major * _SCALE[minor_exponent(currency)])


def to_major(minor: int, currency: str) -> float:
    return minor / _SCALE[minor_exponent(currency)]


class State(enum.Enum):
    OK = "ok"
    LOW = "low"  # below the baseline by the drop and the floor: alert
    QUIET = "quiet"  # baseline under min_baseline: not judged
    UNKNOWN = "unknown"  # warm-up


@dataclass(frozen=True)
class Rule:
    drop: float = 0.2  # relative shortfall that alerts
    floor: float = 10.0  # absolute shortfall that alerts, in the value's unit
    min_baseline: float = 30.0  # judge only above this baseline
    band_k: float = 4.0  # band = median - band_k * sigma; 0 turns the gate off
    noise: float = 0.05  # day-to-day relative variation the band allows for
    weeks: int = 4
    min_weeks: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.drop < 1:
            raise ValueError(f"drop must be between 0 and 1 (exclusive), got {self.drop}")
        if min(self.floor, self.min_baseline, self.band_k, self.noise) < 0:
            raise ValueError("floor, min_baseline, band_k and noise must not be negative")
        if not 1 <= self.min_weeks <= self.weeks:
            raise ValueError(f"min_weeks must be 1..weeks ({self.weeks}), got {self.min_weeks}")


@dataclass(frozen=True)
class Baseline:
    median: float
    sigma: float
    lower: float  # the band's lower edge
    weeks: int  # weeks of history it was computed from


@dataclass(frozen=True)
class Verdict:
    state: State
    value: float
    baseline: Baseline | None
    drop: float  # judged relative shortfall (0 when a gate holds it back)
    reason: str


def baseline(history: Sequence[float | None], band_k: float, unit: float = 1.0,
             noise: float = 0.0) -> Baseline | None:
    """Median and band of the weeks that have data (None: no data that week).
    sigma^2 = median * unit + (noise * median)^2: Poisson counting noise (unit 1
    for counts; for amounts E[X^2]/E[X] of one payment, compound Poisson) and
    the day-to-day variation."""
    have = [h for h in history if h is not None]
    if not have:
        return None
    med = statistics.median(have)
    sigma = math.sqrt(max(med, 0.0) * unit + (noise * med) ** 2)
    return Baseline(med, sigma, med - band_k * sigma, len(have))


def judge(
    value: float, history: Sequence[float | None], rule: Rule, unit: float = 1.0
) -> Verdict:
    """The verdict for one window. `history[i]` is the same window i+1 weeks ago;
    `unit` is the counting-noise unit (see `baseline`)."""
    base = baseline(history[: rule.weeks], rule.band_k, unit, rule.noise)
    have = base.weeks if base else 0
    if have < rule.min_weeks:
        return Verdict(State.UNKNOWN, value, base, 0.0,
                       f"warm-up: {have} of {rule.weeks} weeks of history at this time "
                       f"of week, {rule.min_weeks} needed")
    assert base is not None
    if base.median < rule.min_baseline:
        return Verdict(State.QUIET, value, base, 0.0,
                       f"baseline {base.median:g} is under min_volume {rule.min_baseline:g}")
    shortfall = base.median - value
    rel = max(0.0, shortfall / base.median)
    if shortfall < rule.floor:
        return Verdict(State.OK, value, base, 0.0, f"shortfall {shortfall:g} under floor")
    if rule.band_k > 0 and value >= base.lower:
        return Verdict(State.OK, value, base, 0.0, "within the band")
    state = State.LOW if rel >= rule.drop else State.OK
    return Verdict(state, value, base, rel,
                   f"{rel:.0%} below the baseline {base.median:g} (alert at {rule.drop:.0%})")


def same_time_of_week(end: datetime, weeks: int, zone: ZoneInfo) -> list[datetime]:
    """Window ends 1..`weeks` weeks before `end`, at the same local wall-clock
    time (a DST change does not shift the baseline by an hour)."""
    local = end.astimezone(zone).replace(tzinfo=None)
    out = []
    for k in range(1, weeks + 1):
        wall = local - timedelta(days=7 * k)
        out.append(wall.replace(tzinfo=zone).astimezone(end.tzinfo))
    return out
