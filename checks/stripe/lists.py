"""Checks counted with Stripe's own filters (search and list filters), one or
a few requests per run: stuck_payment_intents, subscriptions_past_due,
invoice_payment_failures (webhook_health lives in checks/stripe/webhooks.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.stripe.base import StripeCheck, StripeCheckOptions, account_tags, capped
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.counts import Count, count_list, count_search
from billing_monitor.checks.stripe.feeds import FeedCheck, FeedCheckOptions, Samples
from billing_monitor.checks.stripe.state import CursorStore
from billing_monitor.checks.stripe.webhooks import WEBHOOK_HEALTH, WebhookHealth, WebhookOptions
from billing_monitor.checks.thresholds import Thresholds

__all__ = ["WEBHOOK_HEALTH", "WebhookHealth", "WebhookOptions", "count_list"]
STUCK_STATUSES = ("requires_action", "processing", "requires_capture")


def _measurement(name: str, c: Count, tags: tuple[str, ...], limit: int) -> Measurement:
    return Measurement(name, c.n, capped(tags, c.capped), c.ids[:limit])


class StuckOptions(StripeCheckOptions):
    judged: ClassVar[tuple[str, ...]] = ("stripe.stuck_payment_intents",)
    min_age_minutes: int = Field(default=60, ge=1, description="older than this is stuck")
    statuses: tuple[str, ...] = STUCK_STATUSES
    thresholds: Thresholds = Field(default=Thresholds(warning=0, critical=10))
    description: str = "PaymentIntents waiting in requires_action/processing/requires_capture"


class StuckPaymentIntents(StripeCheck):
    """Search API, `status:'X' AND created<T`, paged (100 a page, `page`) up to
    `max_pages` per status: Stripe gives no total for a search, so a count
    that reaches the bound is capped. Search data may lag by a minute; the
    ages judged are longer."""

    def __init__(self, name: str, api: StripeApi, options: StuckOptions) -> None:
        super().__init__(name, api)
        self.options = options

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        before = int(ctx.now.timestamp()) - self.options.min_age_minutes * 60
        out = []
        for status in self.options.statuses:
            c = count_search(self.api, "/v1/payment_intents/search",
                             f"status:'{status}' AND created<{before}", account,
                             self.options.max_pages)
            tags = (*account_tags(account), f"status:{status}")
            out.append(_measurement("stripe.stuck_payment_intents", c, tags, ctx.sample_limit))
        return out


class PastDueOptions(StripeCheckOptions):
    judged: ClassVar[tuple[str, ...]] = ("stripe.subscriptions_past_due",)
    thresholds: Thresholds = Field(default=Thresholds(warning=0, critical=25))
    description: str = "Subscriptions past_due or unpaid"


class SubscriptionsPastDue(StripeCheck):
    def __init__(self, name: str, api: StripeApi, options: PastDueOptions) -> None:
        super().__init__(name, api)
        self.options = options

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        out = []
        for status in ("past_due", "unpaid"):
            c = count_list(self.api, "/v1/subscriptions", {"status": status}, account,
                           self.options.max_pages)
            tags = (*account_tags(account), f"status:{status}")
            out.append(_measurement("stripe.subscriptions_past_due", c, tags, ctx.sample_limit))
        return out


class InvoiceOptions(FeedCheckOptions):
    judged: ClassVar[tuple[str, ...]] = (
        "stripe.invoices_past_due", "stripe.invoices_failed_attempts",
        "stripe.invoice_payment_failed",
    )
    window_minutes: int = 24 * 60
    thresholds: Thresholds = Field(default=Thresholds(warning=0, critical=25))
    description: str = "Open invoices past due, and invoice.payment_failed events in the window"


class InvoicePaymentFailures(FeedCheck):
    types = ("invoice.payment_failed",)

    def classify(self, event: dict[str, Any]) -> Sequence[tuple[str, str | None]]:
        inv = event.get("data", {}).get("object", {})
        return [("failed", str(inv.get("id")))]

    def report(
        self, counts: dict[str, int], samples: Samples, tags: tuple[str, ...]
    ) -> list[Measurement]:
        return [Measurement("stripe.invoice_payment_failed", counts.get("failed", 0), tags,
                            samples("failed"))]

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        out = super().measure(account, ctx)
        now, tags, limit = int(ctx.now.timestamp()), account_tags(account), ctx.sample_limit
        c = count_list(self.api, "/v1/invoices", {"status": "open", "due_date": {"lt": now}},
                       account, self.options.max_pages)
        out.append(_measurement("stripe.invoices_past_due", c, tags, limit))
        # Open invoices Stripe already tried to charge automatically, and failed.
        c = count_list(
            self.api, "/v1/invoices",
            {"status": "open", "collection_method": "charge_automatically"}, account,
            self.options.max_pages, keep=lambda i: (i.get("attempt_count") or 0) > 0,
        )
        out.append(_measurement("stripe.invoices_failed_attempts", c, tags, limit))
        return out


def build_stuck(name: str, o: StuckOptions, s: Services) -> StuckPaymentIntents:
    return StuckPaymentIntents(name, s.stripe_client(), o)


def build_past_due(name: str, o: PastDueOptions, s: Services) -> SubscriptionsPastDue:
    return SubscriptionsPastDue(name, s.stripe_client(), o)


def build_invoices(name: str, o: InvoiceOptions, s: Services) -> InvoicePaymentFailures:
    store: CursorStore = s.stripe_cursors()
    return InvoicePaymentFailures(name, s.stripe_client(), store, o)


STUCK_PAYMENT_INTENTS = CheckType(
    "stuck_payment_intents", StuckOptions, build_stuck,
    "PaymentIntents in requires_action/processing/requires_capture past an age",
)
SUBSCRIPTIONS_PAST_DUE = CheckType(
    "subscriptions_past_due", PastDueOptions, build_past_due, "past_due and unpaid subscriptions"
)
INVOICE_PAYMENT_FAILURES = CheckType(
    "invoice_payment_failures", InvoiceOptions, build_invoices,
    "open invoices past due; invoice.payment_failed events in the window",
)
