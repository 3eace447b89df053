"""Checks counted from the Events API through the incremental cursor:
payment_failure_rate, disputes_opened, payouts_failed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.stripe.base import (
    StripeCheck,
    StripeCheckOptions,
    account_tags,
    capped,
    scope,
)
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.events import Contribution, Event, EventReader, FeedOptions
from billing_monitor.checks.stripe.state import CursorStore
from billing_monitor.checks.thresholds import Thresholds


class FeedCheckOptions(StripeCheckOptions):
    window_minutes: int = Field(default=60, ge=1, le=30 * 24 * 60, description="sliding window")
    overlap_seconds: int = Field(
        default=5, ge=0, le=300, description="re-read and de-duplicate events this recent"
    )
    backfill_max_pages: int = Field(default=20, ge=1, le=500, description="first-run read cap")
    # New events per run and account: 50 pages keep up with 1M PaymentIntents
    # a day at a 5-minute schedule (~35 pages); beyond, counts are capped and lag.
    max_pages: int = Field(default=50, ge=1, le=500, description="event pages per run, steady")


Samples = Callable[[str], tuple[str, ...]]
"""The window's sample ids for a count key."""


def event_object(event: Event) -> dict[str, Any]:
    obj = event.get("data", {}).get("object", {})
    return obj if isinstance(obj, dict) else {}


class FeedCheck(StripeCheck):
    """Reads new events, then reports counts over the window from the store."""

    types: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, name: str, api: StripeApi, store: CursorStore, options: FeedCheckOptions
    ) -> None:
        super().__init__(name, api)
        self._reader = EventReader(api, store)
        self._store = store
        self.options = options
        self.feed = FeedOptions(
            self.types, options.window_minutes * 60, options.overlap_seconds,
            options.backfill_max_pages, options.max_pages,
        )

    def classify(self, event: Event) -> Sequence[Contribution]:
        raise NotImplementedError

    def report(
        self, counts: dict[str, int], samples: Samples, tags: tuple[str, ...]
    ) -> list[Measurement]:
        raise NotImplementedError

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        key = scope(self.name, account)
        now = int(ctx.now.timestamp())
        read = self._reader.read(key, account, now, self.feed, self.classify)
        since = now - self.feed.window_seconds
        counts = dict(self._store.counts(key, since))

        def samples(k: str) -> tuple[str, ...]:
            return tuple(self._store.samples(key, k, since, ctx.sample_limit))

        # A window not read in full yet (a bounded backfill) or a read that
        # stopped at its page bound: the counts are lower bounds.
        partial = read.capped or read.covered_since > since
        return self.report(counts, samples, capped(account_tags(account), partial))


class FailureRateOptions(FeedCheckOptions):
    judged: ClassVar[tuple[str, ...]] = ("stripe.payment_failure_rate",)
    min_volume: int = Field(default=20, ge=1, description="no rate below this many payments")
    thresholds: Thresholds = Field(default=Thresholds(warning=0.1, critical=0.25))
    description: str = "Share of PaymentIntent attempts that failed in the window"


class PaymentFailureRate(FeedCheck):
    types = ("payment_intent.succeeded", "payment_intent.payment_failed")

    def classify(self, event: Event) -> Sequence[tuple[str, str | None]]:
        pi = event_object(event)
        if event["type"] == "payment_intent.succeeded":
            return [("succeeded", None)]
        err = pi.get("last_payment_error") or {}
        code = err.get("code") or "none"
        decline = err.get("decline_code") or "none"
        return [("failed", pi.get("id")), (f"code:{code}|decline_code:{decline}", None)]

    def report(
        self, counts: dict[str, int], samples: Samples, tags: tuple[str, ...]
    ) -> list[Measurement]:
        failed, ok = counts.get("failed", 0), counts.get("succeeded", 0)
        out = [
            Measurement("stripe.payments_failed", failed, tags),
            Measurement("stripe.payments_succeeded", ok, tags),
        ]
        for key, n in sorted(counts.items()):
            if key.startswith("code:"):
                code, decline = key.split("|", 1)
                out.append(Measurement("stripe.payment_failures", n, (*tags, code, decline)))
        assert isinstance(self.options, FailureRateOptions)
        if failed + ok >= self.options.min_volume:
            rate = failed / (failed + ok)
            out.append(Measurement("stripe.payment_failure_rate", rate, tags, samples("failed")))
        return out


class DisputesOptions(FeedCheckOptions):
    judged: ClassVar[tuple[str, ...]] = ("stripe.disputes_opened",)
    window_minutes: int = 24 * 60
    thresholds: Thresholds = Field(default=Thresholds(warning=0, critical=5))
    description: str = "Disputes opened in the window"


class CountedByField(FeedCheck):
    """A headline count of the window's events, with sample ids, and the same
    count broken down by one field of the event's object."""

    headline: ClassVar[str]  # metric of the count, e.g. stripe.disputes_opened
    breakdown: ClassVar[str]  # metric of the breakdown
    field: ClassVar[str]  # the object's field the breakdown is tagged by

    def classify(self, event: Event) -> Sequence[tuple[str, str | None]]:
        obj = event_object(event)
        return [("count", obj.get("id")), (f"{self.field}:{obj.get(self.field) or 'none'}", None)]

    def report(
        self, counts: dict[str, int], samples: Samples, tags: tuple[str, ...]
    ) -> list[Measurement]:
        out = [Measurement(self.headline, counts.get("count", 0), tags, samples("count"))]
        out += [Measurement(self.breakdown, n, (*tags, k))
                for k, n in sorted(counts.items()) if k.startswith(f"{self.field}:")]
        return out


class DisputesOpened(CountedByField):
    types = ("charge.dispute.created",)
    headline, breakdown, field = "stripe.disputes_opened", "stripe.disputes_by_reason", "reason"


class PayoutsOptions(FeedCheckOptions):
    judged: ClassVar[tuple[str, ...]] = ("stripe.payouts_failed",)
    window_minutes: int = 24 * 60
    thresholds: Thresholds = Field(default=Thresholds(critical=0))
    description: str = "Payouts that failed in the window"


class PayoutsFailed(CountedByField):
    types = ("payout.failed",)
    headline, breakdown, field = (
        "stripe.payouts_failed", "stripe.payouts_failed_by_code", "failure_code")


def _builder(
    cls: type[FeedCheck],
) -> Callable[[str, FeedCheckOptions, Services], FeedCheck]:
    def build(name: str, options: FeedCheckOptions, services: Services) -> FeedCheck:
        return cls(name, services.stripe_client(), services.stripe_cursors(), options)

    return build


PAYMENT_FAILURE_RATE = CheckType(
    "payment_failure_rate", FailureRateOptions, _builder(PaymentFailureRate),
    "failed / (failed + succeeded) PaymentIntents in a sliding window, by decline code",
)
DISPUTES_OPENED = CheckType(
    "disputes_opened", DisputesOptions, _builder(DisputesOpened), "new disputes in the window"
)
PAYOUTS_FAILED = CheckType(
    "payouts_failed", PayoutsOptions, _builder(PayoutsFailed), "failed payouts in the window"
)
