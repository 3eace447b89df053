"""Checks counted with Stripe's own filters (search and list filters), one or
a few requests per run: stuck_payment_intents, subscriptions_past_due,
webhook_health, invoice_payment_failures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field

from checks.base import CheckType, Services
from checks.stripe_base import StripeCheck, StripeCheckOptions, account_tags
from checks.stripe_client import StripeApi
from checks.stripe_feeds import FeedCheck, FeedCheckOptions, Samples
from checks.stripe_state import CursorStore
from monitor.thresholds import Thresholds
from monitor.types import CheckContext, Measurement

STUCK_STATUSES = ("requires_action", "processing", "requires_capture")


def count_list(
    api: StripeApi, path: str, params: dict[str, Any], account: str | None, max_pages: int,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[int, list[str]]:
    """Objects a filtered list returns (capped at max_pages pages), and their ids."""
    n, ids = 0, []
    for page in api.pages(path, params, account, max_pages=max_pages):
        for obj in page:
            if keep is None or keep(obj):
                n += 1
                ids.append(str(obj["id"]))
    return n, ids


class StuckOptions(StripeCheckOptions):
    judged: ClassVar[tuple[str, ...]] = ("stripe.stuck_payment_intents",)
    min_age_minutes: int = Field(default=60, ge=1, description="older than this is stuck")
    statuses: tuple[str, ...] = STUCK_STATUSES
    thresholds: Thresholds = Field(default=Thresholds(warning=0, critical=10))
    description: str = "PaymentIntents waiting in requires_action/processing/requires_capture"


class StuckPaymentIntents(StripeCheck):
    """Search API: `status:'X' AND created<T`, total_count expanded: one
    request per status (search data may lag by a minute; ages are longer)."""

    def __init__(self, name: str, api: StripeApi, options: StuckOptions) -> None:
        super().__init__(name, api)
        self.options = options

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        before = int(ctx.now.timestamp()) - self.options.min_age_minutes * 60
        out = []
        for status in self.options.statuses:
            page = self.api.get(
                "/v1/payment_intents/search",
                {"query": f"status:'{status}' AND created<{before}",
                 "limit": max(1, min(ctx.sample_limit, 100)), "expand": ["total_count"]},
                account,
            )
            data = page.get("data", [])
            total = page.get("total_count", len(data))
            ids = tuple(str(p["id"]) for p in data[: ctx.sample_limit])
            tags = (*account_tags(account), f"status:{status}")
            out.append(Measurement("stripe.stuck_payment_intents", total, tags, ids))
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
            n, ids = count_list(self.api, "/v1/subscriptions", {"status": status}, account,
                                self.options.max_pages)
            tags = (*account_tags(account), f"status:{status}")
            out.append(Measurement("stripe.subscriptions_past_due", n, tags,
                                   tuple(ids[: ctx.sample_limit])))
        return out


class WebhookOptions(StripeCheckOptions):
    judged: ClassVar[tuple[str, ...]] = (
        "stripe.webhook_endpoints_disabled", "stripe.events_undelivered",
    )
    undelivered_age_minutes: int = Field(default=30, ge=1, description="pending longer is late")
    lookback_hours: int = Field(default=24, ge=1, le=30 * 24, description="how far back to look")
    thresholds: Thresholds = Field(default=Thresholds(critical=0))
    description: str = "Disabled webhook endpoints and events not delivered in time"


class WebhookHealth(StripeCheck):
    def __init__(self, name: str, api: StripeApi, options: WebhookOptions) -> None:
        super().__init__(name, api)
        self.options = options

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        tags = account_tags(account)
        o = self.options
        n_disabled, disabled = count_list(
            self.api, "/v1/webhook_endpoints", {}, account, o.max_pages,
            keep=lambda e: e.get("status") == "disabled",
        )
        now = int(ctx.now.timestamp())
        params = {
            "delivery_success": "false",
            "created": {"lte": now - o.undelivered_age_minutes * 60,
                        "gte": now - o.lookback_hours * 3600},
        }
        n_late, late = count_list(
            self.api, "/v1/events", params, account, o.max_pages,
            keep=lambda e: (e.get("pending_webhooks") or 0) > 0,
        )
        limit = ctx.sample_limit
        return [
            Measurement("stripe.webhook_endpoints_disabled", n_disabled, tags,
                        tuple(disabled[:limit])),
            Measurement("stripe.events_undelivered", n_late, tags, tuple(late[:limit])),
        ]


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
        now = int(ctx.now.timestamp())
        n, ids = count_list(
            self.api, "/v1/invoices", {"status": "open", "due_date": {"lt": now}}, account,
            self.options.max_pages,
        )
        out.append(Measurement("stripe.invoices_past_due", n, account_tags(account),
                               tuple(ids[: ctx.sample_limit])))
        # Open invoices Stripe already tried to charge automatically, and failed.
        n, ids = count_list(
            self.api, "/v1/invoices",
            {"status": "open", "collection_method": "charge_automatically"}, account,
            self.options.max_pages, keep=lambda i: (i.get("attempt_count") or 0) > 0,
        )
        out.append(Measurement("stripe.invoices_failed_attempts", n, account_tags(account),
                               tuple(ids[: ctx.sample_limit])))
        return out


def build_stuck(name: str, o: StuckOptions, s: Services) -> StuckPaymentIntents:
    return StuckPaymentIntents(name, s.stripe_client(), o)


def build_past_due(name: str, o: PastDueOptions, s: Services) -> SubscriptionsPastDue:
    return SubscriptionsPastDue(name, s.stripe_client(), o)


def build_webhooks(name: str, o: WebhookOptions, s: Services) -> WebhookHealth:
    return WebhookHealth(name, s.stripe_client(), o)


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
WEBHOOK_HEALTH = CheckType(
    "webhook_health", WebhookOptions, build_webhooks,
    "disabled webhook endpoints, events undelivered past an age",
)
INVOICE_PAYMENT_FAILURES = CheckType(
    "invoice_payment_failures", InvoiceOptions, build_invoices,
    "open invoices past due; invoice.payment_failed events in the window",
)
