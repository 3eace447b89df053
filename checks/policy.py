"""The alert policy as data, read from the configuration: `[checks.NAME.alert]`
(`AlertPolicy`, part of every check's options) and `[[silences]]`. How a run
of results opens, changes or resolves an incident is decided from these by
monitor/alerting/policy.py."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AlertPolicy(BaseModel):
    """`[checks.NAME.alert]`: how results turn into incidents."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    enabled: bool = True
    trigger_after: int = Field(default=1, ge=1, le=1000)
    resolve_after: int = Field(default=1, ge=1, le=1000)
    recovery: float | None = Field(
        default=None, description="resolve only once the value is back past this level"
    )
    degraded_after: int = Field(default=3, ge=1, le=1000)
    renotify_minutes: float | None = Field(default=None, gt=0)
    period_scoped: bool = Field(
        default=True, description="dedup key carries the business period (the billing week)"
    )


class Silence(BaseModel):
    """`[[silences]]`: mute a check ("*" for all) from `start` to `end`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    start: datetime
    end: datetime
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self) -> Silence:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-11-20T22:00:00Z")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def covers(self, check: str, at: datetime) -> bool:
        return self.check in ("*", check) and self.start <= at < self.end
