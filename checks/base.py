"""Options every check shares, validated strictly from `[checks.NAME]`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine

from monitor.policy import AlertPolicy
from monitor.thresholds import Thresholds
from monitor.types import Check

_TAG = re.compile(r"^[A-Za-z][^,|#\s]*$")


def validate_cron(expr: str) -> str:
    """Reject what APScheduler's crontab parser rejects, at start-up."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return expr


class CheckOptions(BaseModel):
    """`type` picks the check; the rest is common to all checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    description: str = ""
    schedule: str = Field(
        default="*/5 * * * *", description="crontab expression (minute hour dom month dow)"
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    tags: tuple[str, ...] = ()
    thresholds: Thresholds = Thresholds()
    runbook_url: str | None = None
    alert: AlertPolicy = AlertPolicy()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return validate_cron(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for tag in v:
            if not _TAG.match(tag):
                raise ValueError(
                    f"tag {tag!r} must start with a letter and hold no comma, '|', '#' or space"
                )
        return v


class Services(Protocol):
    """What a check factory may ask for; built lazily by the CLI or daemon."""

    def billing_engine(self) -> Engine: ...


OptionsT = TypeVar("OptionsT", bound=CheckOptions)


@dataclass(frozen=True)
class CheckType(Generic[OptionsT]):
    """A registry entry: the options model and the factory that builds the check."""

    name: str
    options: type[OptionsT]
    build: Callable[[str, OptionsT, Services], Check]
    summary: str = ""
