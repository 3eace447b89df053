"""`stripe_payment_volume`: the payment_volume check (checks/payment_volume.py)
fed by Stripe. The current windows come from the Events cursor (successful
PaymentIntents, and charges made without one: a PaymentIntent's own charge
would count twice), per currency. Past weeks come from the measurement
history in the state store (checks/history.py, injected): the value this
check recorded in the 5-minute bucket holding the same time of week, so a
past window can be off by up to the bucket (and the runs' schedule).

Until `min_weeks` weeks of history exist at this time of week the check is
UNKNOWN with the reason (warm-up); the values it measured are still reported
with the failure, so that the history fills. Counts only: amounts are not
read from events here. Not yet back-filled from Events (Stripe keeps 30
days): a new install waits `min_weeks` weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_monitor.checks.base import CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.history import HistoryReader
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
from billing_monitor.checks.stripe.events import Event
from billing_monitor.checks.stripe.feeds import (
    FeedCheck,
    FeedCheckOptions,
    Samples,
    event_object,
)
from billing_monitor.checks.stripe.state import CursorStore

BUCKET = timedelta(minutes=5)  # the history's finest resolution


class StripeVolumeOptions(PaymentVolumeOptions, FeedCheckOptions):
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
        out: Window = {}
        for p in points:
            tags = dict(t.split(":", 1) for t in p.tags.split(","))
            if (tags.get("metric") == "payment_volume.value" and tags.get("measure") == "count"
                    and tags.get("window") == f"{minutes}m" and tags.get("currency") != ALL
                    and tags.get("account") == self._account):
                out[tags["currency"]] = Totals(int(p.value), 0)
        return out or None  # nothing recorded then: no history


class StripePaymentVolume(FeedCheck):
    types = ("payment_intent.succeeded", "charge.succeeded")

    def __init__(self, name: str, api: StripeApi, store: CursorStore,
                 options: StripeVolumeOptions, history: HistoryReader) -> None:
        super().__init__(name, api, store, options)
        self._history = history
        self._measured: list[Measurement] = []

    def classify(self, event: Event) -> Sequence[tuple[str, str | None]]:
        obj = event_object(event)
        if event["type"] == "charge.succeeded" and obj.get("payment_intent"):
            return []  # counted as its PaymentIntent
        return [(f"currency:{str(obj.get('currency') or 'none').lower()}", None)]

    def report(self, counts: dict[str, int], samples: Samples,
               tags: tuple[str, ...]) -> list[Measurement]:
        raise NotImplementedError  # measure() reads two windows itself

    def measure(self, account: str | None, ctx: CheckContext) -> list[Measurement]:
        options = self.options
        assert isinstance(options, StripeVolumeOptions)
        key = scope(self.name, account)
        now = int(ctx.now.timestamp())
        self._reader.read(key, account, now, self.feed, self.classify)
        end = datetime.fromtimestamp(now // 60 * 60, UTC)
        current: dict[int, Window] = {}
        for minutes, _ in options.windows():
            counts = self._store.counts(key, int(end.timestamp()) - minutes * 60)
            current[minutes] = {k.removeprefix("currency:"): Totals(n, 0)
                                for k, n in counts.items() if k.startswith("currency:")}
        tags = account_tags(account)
        source = HistoryWindows(self.name, end, current, self._history,
                                account if account else None)
        try:
            out = judge_all(source, end, options)
        except WarmingUp:
            self._measured = [_tagged(m, tags) for m in _values(current, options)]
            raise
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


def _values(current: dict[int, Window], options: PaymentVolumeOptions) -> list[Measurement]:
    return [Measurement("payment_volume.value", float(t.count),
                        (f"currency:{cur}", "measure:count", f"window:{minutes}m"))
            for minutes, w in current.items() for cur, t in sorted(w.items())
            if minutes in dict(options.windows())]


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
