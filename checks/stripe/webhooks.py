"""webhook_health: disabled webhook endpoints, and events Stripe has not
delivered to an endpoint for longer than `undelivered_age_minutes`.

Webhook endpoints belong to the platform: its own and its Connect endpoints
(which receive the connected accounts' events) are listed once, without a
`Stripe-Account` header. A connected account's own endpoints (a Standard
account may have some) are listed too when `account_endpoints = true`.
Undelivered events are looked for on the platform and on each connected
account in `[stripe].accounts` (an account's events are its own list).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.stripe.base import StripeCheck, StripeCheckOptions, account_tags, capped
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.counts import count_list
from billing_monitor.checks.thresholds import Thresholds


class WebhookOptions(StripeCheckOptions):
    judged: ClassVar[tuple[str, ...]] = (
        "stripe.webhook_endpoints_disabled", "stripe.events_undelivered",
    )
    undelivered_age_minutes: int = Field(default=30, ge=1, description="pending longer is late")
    lookback_hours: int = Field(default=24, ge=1, le=30 * 24, description="how far back to look")
    account_endpoints: bool = Field(
        default=False, description="also list each connected account's own endpoints"
    )
    thresholds: Thresholds = Field(default=Thresholds(critical=0))
    description: str = "Disabled webhook endpoints and events not delivered in time"


class WebhookHealth(StripeCheck):
    def __init__(self, name: str, api: StripeApi, options: WebhookOptions) -> None:
        super().__init__(name, api)
        self.options = options

    def measure_all(self, ctx: CheckContext) -> list[Measurement]:
        connected = self.api.connected
        out: list[Measurement] = []
        for account in (None, *(connected if self.options.account_endpoints else ())):
            out.append(self._endpoints(account, ctx))
        for account in (None, *connected):
            out.append(self._undelivered(account, ctx))
        return out

    def _endpoints(self, account: str | None, ctx: CheckContext) -> Measurement:
        c = count_list(self.api, "/v1/webhook_endpoints", {}, account, self.options.max_pages,
                       keep=lambda e: e.get("status") == "disabled")
        return Measurement("stripe.webhook_endpoints_disabled", c.n,
                           capped(account_tags(account), c.capped), c.ids[: ctx.sample_limit])

    def _undelivered(self, account: str | None, ctx: CheckContext) -> Measurement:
        o = self.options
        now = int(ctx.now.timestamp())
        params = {
            "delivery_success": "false",
            "created": {"lte": now - o.undelivered_age_minutes * 60,
                        "gte": now - o.lookback_hours * 3600},
        }
        c = count_list(self.api, "/v1/events", params, account, o.max_pages,
                       keep=lambda e: (e.get("pending_webhooks") or 0) > 0)
        return Measurement("stripe.events_undelivered", c.n,
                           capped(account_tags(account), c.capped), c.ids[: ctx.sample_limit])


def build_webhooks(name: str, o: WebhookOptions, s: Services) -> WebhookHealth:
    return WebhookHealth(name, s.stripe_client(), o)


WEBHOOK_HEALTH = CheckType(
    "webhook_health", WebhookOptions, build_webhooks,
    "disabled webhook endpoints, events undelivered past an age",
)
