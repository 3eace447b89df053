"""`payment_volume`: successful payments in a sliding window, per currency, against
a seasonal baseline (checks/seasonal.py): the same window at the same local time
of week over the last `weeks` weeks.

Two windows are judged together: the main window (default 60 minutes, drop 30 %)
catches partial drops; a short one (default 10 minutes, drop 80 %) catches a full
stop within 15 minutes, which a 60-minute window could only do with a drop of
under 25 % and the false alerts that come with it (docs/benchmarks.md).

Gauges per currency, measure (count, amount in minor units) and window:
`payment_volume.value`, `.baseline`, `.band` (the band's lower edge) and `.drop`;
the judged `payment_volume.below_baseline` is 1 while a currency is below
(`currency:all`: the count of every currency together, judged when there are
several: a stop of everything is seen sooner in the larger number). Where
the numbers come from is a `VolumeSource`: SQL over the billing database
(checks/payment_sql.py) or the measurement history for Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.policy import AlertPolicy
from billing_monitor.checks.seasonal import Rule, State, Verdict, judge, same_time_of_week, to_minor
from billing_monitor.checks.thresholds import Thresholds

JUDGED = "payment_volume.below_baseline"
ALL = "all"  # every currency's count together


@dataclass(frozen=True)
class Totals:
    count: int
    amount: int  # minor units


Window = dict[str, Totals]  # by lower-case currency


class VolumeSource(Protocol):
    def totals(self, start: datetime, end: datetime) -> Window | None:
        """Successful payments in [start, end) by currency; None when nothing is
        known about that window (no history yet)."""
        ...


class WarmingUp(Exception):
    """Not enough history anywhere to judge: the check is UNKNOWN with this reason."""


class PaymentVolumeOptions(CheckOptions):
    judged: ClassVar[tuple[str, ...]] = (JUDGED,)
    schedule: str = "* * * * *"
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    drop: float = Field(default=0.3, gt=0, lt=1, description="relative drop that alerts")
    floor: float = Field(default=10, ge=0, description="payments short of the baseline")
    min_volume: float = Field(default=100, ge=0, description="judge only above this baseline")
    fast_window_minutes: int = Field(default=10, ge=0, le=24 * 60, description="0: off")
    fast_drop: float = Field(default=0.8, gt=0, lt=1)
    fast_min_volume: float = Field(default=20, ge=0)
    band_k: float = Field(default=4.0, ge=0, le=20)
    noise: float = Field(default=0.05, ge=0, le=1, description="day-to-day variation")
    weeks: int = Field(default=4, ge=1, le=12)
    min_weeks: int = Field(default=3, ge=1, le=12)
    timezone: str = "UTC"
    amount_floor: dict[str, float] = Field(
        default_factory=dict, description="judge amounts: shortfall in major units, by currency")
    amount_min_volume: dict[str, float] = Field(default_factory=dict)
    thresholds: Thresholds = Thresholds(critical=0)
    # Four runs below in a row to alert (a drop must hold, not blip), and a
    # recovery window of an hour (60 quiet runs) to resolve, as a Datadog
    # anomaly monitor's trigger and recovery windows: docs/benchmarks.md 7.
    alert: AlertPolicy = AlertPolicy(trigger_after=4, resolve_after=60)
    description: str = "Successful payments below the same hour of the week in past weeks"

    def thresholds_for(self, metric: str) -> Thresholds:
        return self.thresholds if metric in self.judged else Thresholds()

    @property
    def metric(self) -> str:
        """The judged metric, for the Datadog exports (`export datadog`)."""
        return JUDGED

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (an IANA name, e.g. Europe/Paris)") from None
        return v

    @field_validator("amount_floor", "amount_min_volume")
    @classmethod
    def _currencies(cls, v: dict[str, float]) -> dict[str, float]:
        for cur, amount in v.items():
            to_minor(amount, cur)  # refuses what is not a currency code
            if amount < 0:
                raise ValueError(f"{cur}: {amount} must not be negative")
        return {c.lower(): a for c, a in v.items()}

    @model_validator(mode="after")
    def _consistent(self) -> PaymentVolumeOptions:
        if self.min_weeks > self.weeks:
            raise ValueError(f"min_weeks ({self.min_weeks}) is more than weeks ({self.weeks})")
        if self.fast_window_minutes >= self.window_minutes:
            raise ValueError("fast_window_minutes must be shorter than window_minutes (0: off)")
        return self

    def windows(self) -> list[tuple[int, Rule]]:
        main = Rule(self.drop, self.floor, self.min_volume, self.band_k, self.noise,
                    self.weeks, self.min_weeks)
        out = [(self.window_minutes, main)]
        if self.fast_window_minutes:
            share = self.fast_window_minutes / self.window_minutes
            # No band on the short window: a band of 4 sigmas is below zero under
            # 16 expected payments, where no stop would ever be seen. An 80 %
            # drop from at least 20 expected is its own guard (Poisson:
            # P(X <= 4 | 20) ~ 2e-5).
            out.append((self.fast_window_minutes, Rule(
                self.fast_drop, self.floor * share, self.fast_min_volume, 0.0, 0.0,
                self.weeks, self.min_weeks)))
        return out

    def amount_rule(self, rule: Rule, currency: str, minutes: int) -> Rule | None:
        """The count rule with the floor and minimum in `currency`'s minor units;
        None when amounts in that currency are not judged: not configured, or
        the short window (a stop shows in the count; ten minutes of amounts
        swing with a few large payments)."""
        if currency not in self.amount_floor or minutes != self.window_minutes:
            return None
        floor = to_minor(self.amount_floor[currency], currency)
        least = to_minor(self.amount_min_volume.get(currency, 0), currency)
        return Rule(rule.drop, floor, least, rule.band_k, rule.noise, rule.weeks,
                    rule.min_weeks)


Opener = Callable[[CheckContext], AbstractContextManager[VolumeSource]]


class PaymentVolume:
    def __init__(self, name: str, options: PaymentVolumeOptions, open_source: Opener) -> None:
        self.name = name
        self.options = options
        self._open = open_source

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        end = ctx.now.replace(second=0, microsecond=0)
        with self._open(ctx) as source:
            return judge_all(source, end, self.options)


def _value(w: Window | None, currency: str, measure: str) -> float | None:
    if w is None:
        return None
    t = w.get(currency, Totals(0, 0))
    return float(t.count if measure == "count" else t.amount)


def _with_all(w: Window | None) -> Window | None:
    """Every currency's count together as `all` (amounts in different currencies
    do not add up): a stop of everything is seen sooner in the larger number.
    Judged only where there are several currencies."""
    if w is None:
        return w
    return {**w, ALL: Totals(sum(t.count for t in w.values()), 0)}


def _unit(history: list[Window | None], currency: str) -> float:
    """E[X^2]/E[X] of one payment, about twice the mean amount (compound Poisson)."""
    n = sum(w[currency].count for w in history if w and currency in w)
    total = sum(w[currency].amount for w in history if w and currency in w)
    return 2.0 * total / n if n else 1.0


def judge_all(source: VolumeSource, end: datetime, options: PaymentVolumeOptions,
              ) -> list[Measurement]:
    """Every currency's gauges, and `below_baseline` per currency; WarmingUp when
    nothing could be judged for want of history."""
    ends = same_time_of_week(end, options.weeks, ZoneInfo(options.timezone))
    out: list[Measurement] = []
    low: dict[str, list[str]] = {}
    verdicts: list[Verdict] = []
    for minutes, rule in options.windows():
        length = timedelta(minutes=minutes)
        now = _with_all(source.totals(end - length, end)) or {}
        history = [_with_all(source.totals(e - length, e)) for e in ends]
        seen = set(now).union(*(w for w in history if w)) - {ALL}
        for cur in sorted(seen | ({ALL} if len(seen) > 1 else set())):
            judged = _currency(cur, minutes, rule, now, history, options, out)
            verdicts += [v for _, v in judged]
            low.setdefault(cur, []).extend(
                f"{cur} {measure} over {minutes} min: {v.reason}"
                for measure, v in judged if v.state is State.LOW)
    if verdicts and all(v.state is State.UNKNOWN for v in verdicts):
        raise WarmingUp("; ".join(sorted({v.reason for v in verdicts})))
    for cur, why in sorted(low.items()):
        out.append(Measurement(JUDGED, 1.0 if why else 0.0, (f"currency:{cur}",), tuple(why)))
    return out


def _currency(cur: str, minutes: int, rule: Rule, now: Window, history: list[Window | None],
              options: PaymentVolumeOptions, out: list[Measurement],
              ) -> list[tuple[str, Verdict]]:
    """One currency in one window: gauges into `out`; the judged verdicts. The
    amount is judged only where configured, and only where the count is: a
    quiet hour's few payments make any amount swing."""
    judged: list[tuple[str, Verdict]] = []
    for measure in ("count",) if cur == ALL else ("count", "amount"):
        r = rule if measure == "count" else options.amount_rule(rule, cur, minutes)
        value = _value(now, cur, measure)
        assert value is not None
        past = [_value(w, cur, measure) for w in history]
        unit = 1.0 if measure == "count" else _unit(history, cur)
        v = judge(value, past, r or rule, unit)
        out.extend(_gauges(v, (f"currency:{cur}", f"measure:{measure}", f"window:{minutes}m")))
        if r is not None and (measure == "count" or judged[0][1].state is not State.QUIET):
            judged.append((measure, v))
    return judged


def _gauges(v: Verdict, tags: tuple[str, ...]) -> list[Measurement]:
    out = [Measurement("payment_volume.value", v.value, tags)]
    if v.baseline is not None:
        out += [Measurement("payment_volume.baseline", v.baseline.median, tags),
                Measurement("payment_volume.band", v.baseline.lower, tags),
                Measurement("payment_volume.drop", v.drop, tags)]
    return out
