"""stripe_reconciliation: the application's payments table against Stripe.

Stripe's side comes from `payment_intent.succeeded` events through the
incremental cursor (each succeeded PaymentIntent and its charge kept for the
window). The application's side is a configurable query (default: the
reference schema's billing_records.stripe_payment_intent_id). Ids may be
PaymentIntents (`pi_`) or, from older integrations, Charges (`ch_`): a charge
is matched through its PaymentIntent, looked up when needed (capped per run).
Reported: succeeded in Stripe with no local record (older than a grace
period), and local records whose PaymentIntent is not succeeded.

Connect: with `[stripe].accounts`, the query returns the account each payment
belongs to as its second column (`acct_...`; NULL for the platform), and each
local id is looked up only in its own account (an id looked up in another
account is a 404 there, which would read as "not succeeded"). Ids of an
account not in `[stripe].accounts` are counted in
`stripe.reconciliation_unmonitored`, never looked up. A one-column query is
read as the payments of the only account checked; with several, it is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator
from sqlalchemy import DateTime, Engine, bindparam, text

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.sources import connected
from billing_monitor.checks.sql import bind_names
from billing_monitor.checks.sqlguard import check_query
from billing_monitor.checks.stripe.base import account_tags, capped, scope
from billing_monitor.checks.stripe.client import StripeApi, StripeUnavailable
from billing_monitor.checks.stripe.events import Event
from billing_monitor.checks.stripe.feeds import FeedCheck, FeedCheckOptions, Samples, event_object
from billing_monitor.checks.stripe.state import CursorStore
from billing_monitor.checks.thresholds import Thresholds

DEFAULT_QUERY = """SELECT b.stripe_payment_intent_id FROM billing_records b
WHERE b.stripe_payment_intent_id IS NOT NULL
  AND b.billed_at >= :since AND b.billed_at < :until"""
_ALL = 10**7


class ReconcileOptions(FeedCheckOptions):
    judged: ClassVar[tuple[str, ...]] = (
        "stripe.reconciliation_missing_local", "stripe.reconciliation_not_succeeded",
    )
    window_minutes: int = 24 * 60
    query: str = Field(default=DEFAULT_QUERY, description="local payment ids, :since to :until")
    grace_minutes: int = Field(default=15, ge=0, description="let the app record a payment")
    max_lookups: int = Field(default=50, ge=0, le=1000, description="Stripe retrieves per run")
    thresholds: Thresholds = Field(default=Thresholds(critical=0))
    description: str = "Payments Stripe and the application disagree about"

    def sources(self) -> frozenset[str]:
        return frozenset({"stripe", "database"})

    @field_validator("query")
    @classmethod
    def _binds(cls, v: str) -> str:
        check_query(v)  # one read-only statement, as every check's SQL
        unknown = bind_names(v) - {"since", "until"}
        if unknown:
            raise ValueError(f"unknown query parameter(s) {sorted(unknown)}; known: :since, :until")
        return v


def _charge_id(pi: dict[str, Any]) -> str:
    lc = pi.get("latest_charge")  # an id, or the object when expanded
    return str(lc.get("id") if isinstance(lc, dict) else lc or "")


class StripeReconciliation(FeedCheck):
    types = ("payment_intent.succeeded",)

    def __init__(
        self, name: str, api: StripeApi, store: CursorStore, engine: Engine,
        options: ReconcileOptions,
    ) -> None:
        super().__init__(name, api, store, options)
        self._engine = engine
        self._query = text(options.query).bindparams(
            bindparam("since", type_=DateTime(timezone=True)),
            bindparam("until", type_=DateTime(timezone=True)),
        )
        self.opts = options

    def classify(self, event: Event) -> Sequence[tuple[str, str | None]]:
        pi = event_object(event)
        return [("succeeded", f"{pi.get('id')} {_charge_id(pi)}")]

    def _local_ids(
        self, since: int, until: int, ctx: CheckContext
    ) -> dict[str | None, set[str]]:
        """Local ids by the account they belong to (None: the platform)."""
        params = {"since": datetime.fromtimestamp(since, UTC),
                  "until": datetime.fromtimestamp(until, UTC)}
        with connected(self._engine) as conn, database_deadline(conn, ctx.deadline):
            rows = [tuple(r) for r in conn.execute(self._query, params)]
            conn.rollback()
        scopes = self.api.accounts
        out: dict[str | None, set[str]] = {}
        for row in rows:
            if not row or not row[0]:
                continue
            if len(row) == 1 and len(scopes) > 1:
                raise ValueError(
                    "stripe_reconciliation: with several [stripe].accounts the query must "
                    "return each payment's account (acct_..., NULL for the platform) as its "
                    "second column")
            account = scopes[0] if len(row) == 1 else (str(row[1]) if row[1] else None)
            out.setdefault(account, set()).add(str(row[0]))
        return out

    def _status(self, local_id: str, account: str | None) -> str:
        """The PaymentIntent status behind a pi_ or ch_ id (a charge without one: its own)."""
        try:
            if local_id.startswith("ch_"):
                charge = self.api.get(f"/v1/charges/{local_id}", {}, account)
                pi_id = charge.get("payment_intent")
                if not pi_id:
                    return str(charge.get("status"))
                local_id = str(pi_id.get("id") if isinstance(pi_id, dict) else pi_id)
            return str(self.api.get(f"/v1/payment_intents/{local_id}", {}, account)["status"])
        except StripeUnavailable as exc:
            if exc.status == 404:
                return "missing"
            raise

    def measure_all(self, ctx: CheckContext) -> list[Measurement]:
        now = int(ctx.now.timestamp())
        window_start = now - self.feed.window_seconds
        until = now - self.opts.grace_minutes * 60
        # Stripe's side first: a local id is compared only over the span its
        # account's events were read for (a bounded backfill covers less than
        # the window at first; ids older than that would all need lookups).
        covered: dict[str | None, tuple[int, bool]] = {}
        for account in self.api.accounts:
            read = self._reader.read(scope(self.name, account), account, now, self.feed,
                                     self.classify)
            covered[account] = (max(window_start, read.covered_since), read.capped)
        local: dict[str | None, set[str]] = {}
        others: set[str] = set()  # ids of accounts not checked, over the widest span
        for n, since in enumerate(sorted({c[0] for c in covered.values()})):
            rows = self._local_ids(since, until, ctx)
            for account, ids in rows.items():
                if account in covered and covered[account][0] == since:
                    local[account] = ids
                elif account not in covered and n == 0:
                    others |= ids
        out: list[Measurement] = []
        for account in self.api.accounts:
            since, partial = covered[account]
            out += self._account(account, local.get(account, set()), since, ctx,
                                 partial or since > window_start)
        other = sorted(others)
        out.append(Measurement("stripe.reconciliation_unmonitored", len(other), (),
                               tuple(other[: ctx.sample_limit])))
        return out

    def _account(
        self, account: str | None, local: set[str], since: int, ctx: CheckContext,
        partial: bool,
    ) -> list[Measurement]:
        key = scope(self.name, account)
        until = int(ctx.now.timestamp()) - self.opts.grace_minutes * 60
        pairs = [s.split(" ") for s in self._store.samples(key, "succeeded", since, _ALL, until)]
        pi_ids = {p[0] for p in pairs}
        charge_to_pi = {p[1]: p[0] for p in pairs if len(p) > 1 and p[1]}
        local_pis = {charge_to_pi.get(i, i) for i in local}
        missing_local = sorted(pi_ids - local_pis)
        unmatched = sorted(i for i in local if charge_to_pi.get(i, i) not in pi_ids)
        not_succeeded: list[str] = []
        for local_id in unmatched[: self.opts.max_lookups]:
            if self._status(local_id, account) != "succeeded":
                not_succeeded.append(local_id)
        tags, limit = account_tags(account), ctx.sample_limit
        return [
            Measurement("stripe.reconciliation_missing_local", len(missing_local),
                        capped(tags, partial), tuple(missing_local[:limit])),
            Measurement("stripe.reconciliation_not_succeeded", len(not_succeeded),
                        capped(tags, partial), tuple(not_succeeded[:limit])),
            Measurement("stripe.reconciliation_unchecked",
                        max(0, len(unmatched) - self.opts.max_lookups), tags),
        ]

    def report(
        self, counts: dict[str, int], samples: Samples, tags: tuple[str, ...]
    ) -> list[Measurement]:
        return []  # measure() reports


def build_reconciliation(
    name: str, options: ReconcileOptions, services: Services
) -> StripeReconciliation:
    return StripeReconciliation(
        name, services.stripe_client(), services.stripe_cursors(), services.billing_engine(),
        options,
    )


STRIPE_RECONCILIATION = CheckType(
    "stripe_reconciliation", ReconcileOptions, build_reconciliation,
    "succeeded in Stripe with no local record; local records not succeeded in Stripe",
)
