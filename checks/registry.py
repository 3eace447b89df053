"""Every check type, registered explicitly in one place. Duplicates are refused."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billing_monitor.checks.base import CheckType
from billing_monitor.checks.billing import FAILED_CHARGES, MISSING_BILLING_RECORDS, UNBILLED_ORDERS
from billing_monitor.checks.payment_freshness import SQL_PAYMENT_FRESHNESS
from billing_monitor.checks.payment_sql import SQL_PAYMENT_VOLUME
from billing_monitor.checks.sql import SQL
from billing_monitor.checks.stripe.feeds import (
    DISPUTES_OPENED,
    PAYMENT_FAILURE_RATE,
    PAYOUTS_FAILED,
)
from billing_monitor.checks.stripe.freshness import STRIPE_PAYMENT_FRESHNESS
from billing_monitor.checks.stripe.lists import (
    INVOICE_PAYMENT_FAILURES,
    STUCK_PAYMENT_INTENTS,
    SUBSCRIPTIONS_PAST_DUE,
    WEBHOOK_HEALTH,
)
from billing_monitor.checks.stripe.reconcile import STRIPE_RECONCILIATION
from billing_monitor.checks.stripe.volume import STRIPE_PAYMENT_VOLUME


def _index(types: Iterable[CheckType[Any]]) -> dict[str, CheckType[Any]]:
    out: dict[str, CheckType[Any]] = {}
    for t in types:
        if t.name in out:
            raise ValueError(f"check type {t.name!r} registered twice")
        out[t.name] = t
    return out


CHECK_TYPES: dict[str, CheckType[Any]] = _index(
    [
        UNBILLED_ORDERS, MISSING_BILLING_RECORDS, FAILED_CHARGES, SQL,
        SQL_PAYMENT_VOLUME, SQL_PAYMENT_FRESHNESS,
        # Stripe (checks/stripe_*.py)
        PAYMENT_FAILURE_RATE, STUCK_PAYMENT_INTENTS, SUBSCRIPTIONS_PAST_DUE, WEBHOOK_HEALTH,
        INVOICE_PAYMENT_FAILURES, DISPUTES_OPENED, PAYOUTS_FAILED, STRIPE_RECONCILIATION,
        STRIPE_PAYMENT_VOLUME, STRIPE_PAYMENT_FRESHNESS,
    ]
)
