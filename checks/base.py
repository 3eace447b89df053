"""Options every check shares, validated strictly from `[checks.NAME]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine

from billing_monitor.checks.contract import Check
from billing_monitor.checks.names import check_tag
from billing_monitor.checks.policy import AlertPolicy
from billing_monitor.checks.templates import RUNBOOK_MAX, first_problem
from billing_monitor.checks.thresholds import Thresholds

if TYPE_CHECKING:
    from billing_monitor.checks.history import HistoryStore
    from billing_monitor.checks.stripe.client import StripeApi
    from billing_monitor.checks.stripe.state import CursorStore

def validate_cron(expr: str) -> str:
    """Reject at start-up what the daemon could not schedule (crontab meaning:
    0 or 7 is Sunday)."""
    from billing_monitor.checks.crontab import validate_crontab

    return validate_crontab(expr)


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
    # README "Routing alerts": {field} templates, checked here, filled in without
    # evaluating anything (checks/templates.py), cut to each service's limits.
    summary: str | None = Field(default=None, min_length=1)
    runbook: str | None = Field(default=None, min_length=1)
    alert: AlertPolicy = AlertPolicy()

    def thresholds_for(self, metric: str) -> Thresholds:
        """The thresholds that judge `metric`; a check type may leave breakdowns unjudged."""
        return self.thresholds

    def sources(self) -> frozenset[str]:
        """What the check reads (checks/sources.py): the billing database."""
        return frozenset({"database"})

    def metric_names(self, name: str) -> tuple[str, ...]:
        """The metric names the check `name` reports under, where the options
        alone say (two checks must not share one); () when they do not."""
        return ()

    @field_validator("summary")
    @classmethod
    def _summary(cls, v: str | None) -> str | None:
        problem = None if v is None else first_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("runbook")
    @classmethod
    def _runbook(cls, v: str | None) -> str | None:
        problem = None if v is None else first_problem(v, RUNBOOK_MAX)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return validate_cron(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_tag(tag) for tag in v)


class Services(Protocol):
    """What a check factory may ask for; built lazily by the CLI or daemon."""

    def billing_engine(self) -> Engine: ...

    def stripe_client(self) -> StripeApi: ...

    def stripe_cursors(self) -> CursorStore: ...

    def history(self) -> HistoryStore: ...


OptionsT = TypeVar("OptionsT", bound=CheckOptions)


@dataclass(frozen=True)
class CheckType(Generic[OptionsT]):
    """A registry entry: the options model and the factory that builds the check."""

    name: str
    options: type[OptionsT]
    build: Callable[[str, OptionsT, Services], Check]
    summary: str = ""
