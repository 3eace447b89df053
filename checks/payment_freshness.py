"""`payment_freshness`: time since the last successful payment, against a
limit that may differ by time of week, for businesses where a quiet hour is
the alarm.

`[[checks.NAME.hours]]` entries (first match wins, so list exceptions first)
give `max_silence_minutes` on `days` from `start` to `end` local time (`end`
at or before `start` runs past midnight); `max_silence_minutes` at the check's
top level applies outside them (unset: not judged then). Gauges:
`payment_freshness.age_minutes`, `.limit_minutes`; judged:
`payment_freshness.over_limit`, the age divided by the limit (critical > 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine

from billing_monitor.checks.base import CheckOptions, CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.payment_sql import as_utc, compiled, sql_query
from billing_monitor.checks.payment_volume import PaymentVolumeOptions
from billing_monitor.checks.thresholds import Thresholds

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
JUDGED = "payment_freshness.over_limit"


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    days: tuple[Day, ...] = Field(min_length=1)
    start: time
    end: time
    max_silence_minutes: float = Field(gt=0)

    def covers(self, local: datetime) -> bool:
        days = {DAYS.index(d) for d in self.days}
        t = local.time()
        if self.start < self.end:
            return local.weekday() in days and self.start <= t < self.end
        if t >= self.start:
            return local.weekday() in days
        return (local.weekday() - 1) % 7 in days and t < self.end


@dataclass(frozen=True)
class Freshness:
    age_minutes: float
    limit_minutes: float | None  # None: not judged at this time of week


def limit_at(hours: Sequence[Hours], default: float | None, zone: ZoneInfo,
             now: datetime) -> float | None:
    local = now.astimezone(zone)
    return next((h.max_silence_minutes for h in hours if h.covers(local)), default)


def freshness(last: datetime, now: datetime, hours: Sequence[Hours], default: float | None,
              zone: ZoneInfo) -> Freshness:
    age = max(0.0, (now - last).total_seconds() / 60)
    return Freshness(age, limit_at(hours, default, zone, now))


def measurements(f: Freshness, last: datetime) -> list[Measurement]:
    stamp = (f"last payment at {last.isoformat()}",)
    out = [Measurement("payment_freshness.age_minutes", round(f.age_minutes, 3))]
    if f.limit_minutes is not None:
        out += [Measurement("payment_freshness.limit_minutes", f.limit_minutes),
                Measurement(JUDGED, round(f.age_minutes / f.limit_minutes, 4), (), stamp)]
    return out


class FreshnessOptions(CheckOptions):
    judged: ClassVar[tuple[str, ...]] = (JUDGED,)
    schedule: str = "* * * * *"
    hours: tuple[Hours, ...] = ()
    max_silence_minutes: float | None = Field(default=None, gt=0)
    timezone: str = "UTC"
    thresholds: Thresholds = Thresholds(critical=1)
    description: str = "Minutes since the last successful payment, against its limit"

    def thresholds_for(self, metric: str) -> Thresholds:
        return self.thresholds if metric in self.judged else Thresholds()

    @property
    def metric(self) -> str:
        """The judged metric, for the Datadog exports (`export datadog`)."""
        return JUDGED

    _zone = field_validator("timezone")(PaymentVolumeOptions._zone.__func__)  # type: ignore[attr-defined]


class SqlFreshnessOptions(FreshnessOptions):
    query: str = Field(description="one timestamp: the last successful payment (:now is bound)")

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        return sql_query(v, {"now"})


class SqlFreshness:
    def __init__(self, name: str, engine: Engine, options: SqlFreshnessOptions) -> None:
        self.name = name
        self.options = options
        self._engine = engine
        self._query = compiled(options.query, 2)

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        where = f"check {self.name}"
        with self._engine.connect() as conn, database_deadline(conn, ctx.deadline):
            rows = conn.execute(self._query, {"now": ctx.now}).fetchall()
            conn.rollback()
        if len(rows) != 1 or len(rows[0]) != 1:
            raise ValueError(f"{where}: the query must return one row of one timestamp")
        last = as_utc(rows[0][0], where)
        if last is None:
            raise ValueError(f"{where}: no successful payment on record")
        o = self.options
        f = freshness(last, ctx.now, o.hours, o.max_silence_minutes, ZoneInfo(o.timezone))
        return measurements(f, last)


def build_sql_freshness(name: str, options: SqlFreshnessOptions,
                        services: Services) -> SqlFreshness:
    return SqlFreshness(name, services.billing_engine(), options)


SQL_PAYMENT_FRESHNESS = CheckType(
    "payment_freshness", SqlFreshnessOptions, build_sql_freshness,
    "minutes since the last successful payment, limits by time of week",
)
