"""`stripe_payment_volume`: the payment_volume check (checks/payment_volume.py)
fed by Stripe. The current windows come from the Events cursor (successful
PaymentIntents, and charges made without one: a PaymentIntent's own charge
would count twice), per currency. Past weeks come from the measurement
history in the state store (checks/history.py, injected): the value this
check recorded in the 5-minute bucket holding the same time of week, so a
past window can be off by up to the bucket (and the runs' schedule).

Count and amount per currency (amounts as Stripe gives them, in the
currency's minor units: PaymentIntents' `amount_received`, charges' `amount`).
The history is back-filled from Events on the first run and after a gap
(checks/stripe/volume_fill.py): with the default 4 weeks every baseline week
is inside Stripe's 30 days, so a new install judges once the back-fill has
read back 4 weeks. Until `min_weeks` weeks of history exist at this time of
week the check is UNKNOWN with the reason (warm-up, and how far the back-fill
has come); the values it measured are still reported with the failure, so
that the history fills.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.history import HistoryReader, HistoryStore
from billing_monitor.checks.payment_volume import (
    ALL,
    PaymentVolumeOptions,
    Totals,
    WarmingUp,
    Window,
    judge_all,
)
from billing_monitor.checks.stripe.base import account_tags, scope
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.events import Contribution, Event
from billing_monitor.checks.stripe.feeds import (
    FeedCheck,
    FeedCheckOptions,
    Samples,
    event_object,
)
from billing_monitor.checks.stripe.state import CursorStore
from billing_monitor.checks.stripe.volume_fill import FillRun, HistoryFiller

BUCKET = timedelta(minutes=5)  # the history's finest resolution


class StripeVolumeOptions(PaymentVolumeOptions, FeedCheckOptions):
    history_pages: int = Field(default=20, ge=1, le=500,
                               description="back-fill: event pages per run and account")
    description: str = "Successful Stripe payments below the same hour of the week in past weeks"


class HistoryWindows:
    """A VolumeSource: the current windows as read, past ones from the history."""

    def __init__(self, check: str, end: datetime, current: dict[int, Window],
                 history: HistoryReader, account_tag: str | None) -> None:
        self._check, self._end, self._current = check, end, current
        self._history, self._account = history, account_tag

    def totals(self, start: datetime, end: datetime) -> Window | None:
        minutes = round((end - start).total_seconds() / 60)
        if end == self._end:
            return self._current[minutes]
        bucket = datetime.fromtimestamp(end.timestamp() // 300 * 300, UTC)
        points = self._history.series(self._check, bucket, bucket + BUCKET, max_points=10)
        found: dict[str, dict[str, int]] = {}
        for p in points:
            tags = dict(t.split(":", 1) for t in p.tags.split(","))
            if (tags.get("metric") == "payment_volume.value" and tags.get("measure")
                    and tags.get("window") == f"{minutes}m" and tags.get("currency") != ALL
                    and tags.get("account") == self._account):
                found.setdefault(tags["currency"], {})[tags["measure"]] = int(p.value)
        out = {cur: Totals(m.get("count", 0), m.get("amount", 0)) for cur, m in found.items()
               if "count" in m}
        return out or None  # nothing recorded then: no history


class StripePaymentVolume(FeedCheck):
    types = ("payment_intent.succeeded", "charge.succeeded")

    def __init__(self, name: str, api: StripeApi, store: CursorStore,
                 options: StripeVolumeOptions, history: HistoryStore,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, api, store, options)
        self._history = history
        self._measured: list[Measurement] = []
        self.filler = HistoryFiller(
            name, api, store.fills, history, self.types, self.weigh,
            [m for m, _ in options.windows()], options.weeks, options.history_pages,
            monotonic)

    def classify(self, event: Event) -> Sequence[Contribution]:
        obj = event_object(event)
        if event["type"] == "charge.succeeded" and obj.get("payment_intent"):
            return []  # counted as its PaymentIntent
        cur = str(obj.get("currency") or "none").lower()
        amount = obj.get("amount_received") if event["type"].startswith("payment_intent") \
            else None
        amount = amount if isinstance(amount, int) else obj.get("amount")
        return [(f"currency:{cur}", None),
                (f"amount:{cur}", None, amount if isinstance(amount, int) else 0)]

    def weigh(self, event: Event) -> list[tuple[str, int]]:
        return [(c[0], c[2] if len(c) == 3 else 1) for c in self.classify(event)]

    def report(self, counts: dict[str, int], samples: Samples,
               tags: tuple[str, ...]) -> list[Measurement]:
        raise NotImplementedError  # measure() reads two windows itself

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        options = self.options
        assert isinstance(options, StripeVolumeOptions)
        key = scope(self.name, account)
        now = int(ctx.now.timestamp())
        tags = account_tags(account)
        filled = self.filler.run(key, account, now, ctx.deadline, tags)
        self._reader.read(key, account, now, self.feed, self.classify)
        end = datetime.fromtimestamp(now // 60 * 60, UTC)
        current: dict[int, Window] = {}
        for minutes, _ in options.windows():
            counts = self._store.counts(key, int(end.timestamp()) - minutes * 60)
            current[minutes] = {
                k.removeprefix("currency:"): Totals(n, counts.get(f"amount:{k[9:]}", 0))
                for k, n in counts.items() if k.startswith("currency:")}
        source = HistoryWindows(self.name, end, current, self._history,
                                account if account else None)
        try:
            out = judge_all(source, end, options)
        except WarmingUp as exc:
            self._measured = [_tagged(m, tags) for m in _values(current, options)]
            raise WarmingUp(f"{exc}; {fill_status(filled, options.weeks)}") from None
        return [_tagged(m, tags) for m in out]

    def measure_all(self, ctx: CheckContext) -> list[Measurement]:
        """Every account is read and measured even while another warms up; the
        run is UNKNOWN (warm-up) only when no account could be judged."""
        out: list[Measurement] = []
        warming: list[Measurement] = []
        reasons: list[str] = []
        for account in self.api.accounts:
            try:
                out.extend(self.measure(account, ctx))
            except WarmingUp as exc:
                warming.extend(self._measured)
                reasons.append(f"{account}: {exc}" if account else str(exc))
        if reasons and not out:
            self._measured = warming
            raise WarmingUp("; ".join(reasons))
        return out + warming

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        self._measured = []
        try:
            return super().collect(ctx)
        except WarmingUp as exc:
            # What was measured goes into the history even while warming up.
            exc.measurements = (  # type: ignore[attr-defined]
                *self._measured, *getattr(exc, "measurements", ()))
            raise


def fill_status(run: FillRun, weeks: int) -> str:
    """Where the back-fill from Events stands, for the warm-up reason."""
    f = run.fill
    day = f"{datetime.fromtimestamp(f.since, UTC):%Y-%m-%d %H:%M} UTC"
    if not f.done:
        back = datetime.fromtimestamp(f.filled_down_to, UTC)
        return (f"back-filling from Stripe's Events: history filled back to "
                f"{back:%Y-%m-%d %H:%M} UTC of {day} ({run.pages} pages this run; "
                f"resumes next run)")
    return (f"back-filled from Stripe's Events since {day}; Stripe keeps events 30 days, "
            f"so the weeks of the {weeks}-week baseline older than that fill as the live "
            f"history reaches them")


def _values(current: dict[int, Window], options: PaymentVolumeOptions) -> list[Measurement]:
    return [Measurement("payment_volume.value", float(getattr(t, measure)),
                        (f"currency:{cur}", f"measure:{measure}", f"window:{minutes}m"))
            for minutes, w in current.items() for cur, t in sorted(w.items())
            for measure in ("count", "amount") if minutes in dict(options.windows())]


def _tagged(m: Measurement, tags: tuple[str, ...]) -> Measurement:
    return Measurement(m.name, m.value, (*m.tags, *tags), m.samples) if tags else m


def build_stripe_volume(name: str, options: StripeVolumeOptions,
                        services: Services) -> StripePaymentVolume:
    return StripePaymentVolume(name, services.stripe_client(), services.stripe_cursors(),
                               options, services.history())


STRIPE_PAYMENT_VOLUME: CheckType[Any] = CheckType(
    "stripe_payment_volume", StripeVolumeOptions, build_stripe_volume,
    "successful Stripe payments per currency against the same hour of the week in past weeks",
)
