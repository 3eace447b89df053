"""What every Stripe check shares: options, a run per Connect account tagged
`account:acct_...`, the `stripe.requests` count of the run (a failed run
included: the runner reports an exception's `measurements`), and capped
counts: a count that stopped at a page bound carries the tag `capped:true`
(it is a lower bound, never an exact figure), and `stripe.capped_counts` says
how many of the run's counts are capped, naming them, so that the alert text
says so too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.thresholds import Thresholds

REQUESTS_METRIC = "stripe.requests"
CAPPED_METRIC = "stripe.capped_counts"
CAPPED_TAG = "capped:true"
_UNJUDGED = Thresholds()


class StripeCheckOptions(CheckOptions):
    """`thresholds` judge only the metrics in `judged`; the breakdowns and the
    request count are gauges only."""

    judged: ClassVar[tuple[str, ...]] = ()
    max_pages: int = Field(default=10, ge=1, le=100, description="cap on list pages per account")

    def thresholds_for(self, metric: str) -> Thresholds:
        return self.thresholds if metric in self.judged else _UNJUDGED

    def sources(self) -> frozenset[str]:
        return frozenset({"stripe"})


def account_tags(account: str | None) -> tuple[str, ...]:
    return (f"account:{account}",) if account else ()


def capped(tags: tuple[str, ...], is_capped: bool) -> tuple[str, ...]:
    return (*tags, CAPPED_TAG) if is_capped else tags


class StripeCheck:
    """Subclasses implement `measure` for one account (or `measure_all`); the
    request count covers every account and every retry."""

    def __init__(self, name: str, api: StripeApi) -> None:
        self.name = name
        self.api = api

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        raise NotImplementedError

    def measure_all(self, ctx: CheckContext) -> list[Measurement]:
        out: list[Measurement] = []
        for account in self.api.accounts:
            out.extend(self.measure(account, ctx))
        return out

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        with self.api.counter.scope() as requests, self.api.deadline(ctx.deadline):
            try:
                out = self.measure_all(ctx)
            except Exception as exc:
                # The run failed, but the requests it made still count against
                # Stripe's rate limit: report them with the failure.
                exc.measurements = (  # type: ignore[attr-defined]
                    Measurement(REQUESTS_METRIC, requests()),)
                raise
            # Sinks tag every measurement with `check:<name>` already.
            out.append(Measurement(REQUESTS_METRIC, requests()))
        hit = [m for m in out if CAPPED_TAG in m.tags]
        names = tuple(" ".join((m.name, *(t for t in m.tags if t != CAPPED_TAG)))
                      for m in hit)
        out.append(Measurement(CAPPED_METRIC, len(hit), (), names[: ctx.sample_limit]))
        return out


def scope(check: str, account: str | None) -> str:
    return f"{check}/{account or 'platform'}"
