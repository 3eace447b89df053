"""`stripe_payment_freshness`: time since the last successful payment Stripe
knows of, against limits by time of week, exactly as the SQL
`payment_freshness` (checks/payment_freshness.py: `hours`,
`max_silence_minutes`, `timezone`; same gauges and judged metric).

One request a run and account: `GET /v1/events` with `types[]`
payment_intent.succeeded and charge.succeeded and `limit=1`, the newest
first; its `created` is the last successful payment (a PaymentIntent's charge
and the PaymentIntent succeed together, so either event will do). Stripe
lists 30 days of events: with none, the last payment is older than that, and
the age reported is 30 days, a lower bound tagged `capped:true` (over any
limit shorter than 30 days, so it still pages).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.payment_freshness import FreshnessOptions, freshness, measurements
from billing_monitor.checks.stripe.base import StripeCheck, StripeCheckOptions, account_tags, capped
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.events import RETENTION_SECONDS

TYPES = ("payment_intent.succeeded", "charge.succeeded")
NONE = "no successful payment in Stripe's 30 days of events"


class StripeFreshnessOptions(FreshnessOptions, StripeCheckOptions):
    description: str = "Minutes since the last successful Stripe payment, against its limit"


class StripePaymentFreshness(StripeCheck):
    def __init__(self, name: str, api: StripeApi, options: StripeFreshnessOptions) -> None:
        super().__init__(name, api)
        self.options = options

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        page = self.api.get("/v1/events", {"limit": 1, "types": list(TYPES)}, account)
        data: list[dict[str, Any]] = page.get("data", [])
        beyond = not data  # nothing in Stripe's 30 days
        created = (int(ctx.now.timestamp()) - RETENTION_SECONDS if beyond
                   else int(data[0]["created"]))
        last = datetime.fromtimestamp(created, UTC)
        o = self.options
        f = freshness(last, ctx.now, o.hours, o.max_silence_minutes, ZoneInfo(o.timezone))
        tags = capped(account_tags(account), beyond)
        return [Measurement(m.name, m.value, (*m.tags, *tags),
                            (NONE,) if beyond and m.samples else m.samples)
                for m in measurements(f, last)]


def build_stripe_freshness(name: str, options: StripeFreshnessOptions,
                           services: Services) -> StripePaymentFreshness:
    return StripePaymentFreshness(name, services.stripe_client(), options)


STRIPE_PAYMENT_FRESHNESS = CheckType(
    "stripe_payment_freshness", StripeFreshnessOptions, build_stripe_freshness,
    "minutes since the last successful Stripe payment, limits by time of week",
)
