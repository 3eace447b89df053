"""What every Stripe check shares: options, a run per Connect account tagged
`account:acct_...`, and the `stripe.requests` count of the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from checks.base import CheckOptions
from checks.stripe_client import StripeApi
from monitor.thresholds import Thresholds
from monitor.types import CheckContext, Measurement

REQUESTS_METRIC = "stripe.requests"
_UNJUDGED = Thresholds()


class StripeCheckOptions(CheckOptions):
    """`thresholds` judge only the metrics in `judged`; the breakdowns and the
    request count are gauges only."""

    judged: ClassVar[tuple[str, ...]] = ()
    max_pages: int = Field(default=10, ge=1, le=100, description="cap on list pages per account")

    def thresholds_for(self, metric: str) -> Thresholds:
        return self.thresholds if metric in self.judged else _UNJUDGED


def account_tags(account: str | None) -> tuple[str, ...]:
    return (f"account:{account}",) if account else ()


class StripeCheck:
    """Subclasses implement `measure` for one account; the request count
    covers every account and every retry."""

    def __init__(self, name: str, api: StripeApi) -> None:
        self.name = name
        self.api = api

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        raise NotImplementedError

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        out: list[Measurement] = []
        with self.api.counter.scope() as requests, self.api.deadline(ctx.deadline):
            for account in self.api.accounts:
                out.extend(self.measure(account, ctx))
            # Sinks tag every measurement with `check:<name>` already.
            out.append(Measurement(REQUESTS_METRIC, requests()))
        return out


def scope(check: str, account: str | None) -> str:
    return f"{check}/{account or 'platform'}"
