"""stripe_payment_volume against the spec-validating Stripe peer, with its
baseline read from the measurement history of a real (SQLite) state store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from billing_monitor.alerting import history
from billing_monitor.alerting.history_fill import FillingHistory
from billing_monitor.alerting.store import open_state
from billing_monitor.checks.history import series_key
from billing_monitor.checks.payment_volume import JUDGED, WarmingUp
from billing_monitor.checks.stripe.state import SqlCursorStore
from billing_monitor.checks.stripe.volume import StripePaymentVolume, StripeVolumeOptions
from tests.peers.fake_stripe import api_for, context, event
from tests.stripe_fixtures import fake, store

__all__ = ["fake", "store"]  # fixtures

T0 = 1_790_000_040  # on the minute
END = datetime.fromtimestamp(T0, UTC)


def state(tmp_path: Path, weeks: int, per_hour: int = 120, *account: str) -> FillingHistory:
    """What this check recorded at this time of week in `weeks` past weeks."""
    engine = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as conn:
        for k in range(1, weeks + 1):
            history.record(conn, "volume", END - timedelta(weeks=k), [
                (series_key("payment_volume.value", ("currency:usd", "measure:count",
                                                     f"window:{w}m", *account)),
                 per_hour * w / 60)
                for w in (60, 10)])
    return FillingHistory(engine)


def payments(server: Any, minutes: range, per_minute: int = 2,
             account: str | None = None) -> None:
    for m in minutes:
        for i in range(per_minute):
            at = T0 - 60 * m + 20 * i
            server.add("events", event(f"evt_{m}_{i}", "payment_intent.succeeded", at,
                                       {"id": f"pi_{m}_{i}", "object": "payment_intent",
                                        "currency": "usd", "amount": 2500}), account=account)


def check(url: str, store: SqlCursorStore, reader: Any, **api: Any) -> StripePaymentVolume:
    return StripePaymentVolume("volume", api_for(url, **api), store,
                               StripeVolumeOptions(type="stripe_payment_volume"), reader)


def values(ms: Any, name: str) -> dict[tuple[str, ...], float]:
    return {m.tags: m.value for m in ms if m.name == name}


def test_normal_traffic_is_not_below_and_charges_of_intents_count_once(
    fake: Any, store: SqlCursorStore, tmp_path: Path
) -> None:
    server, url = fake
    payments(server, range(1, 61))
    server.add("events",
               event("evt_ch_pi", "charge.succeeded", T0 - 30,
                     {"id": "ch_1", "object": "charge", "currency": "usd",
                      "payment_intent": "pi_1_0"}),
               event("evt_ch_legacy", "charge.succeeded", T0 - 30,
                     {"id": "ch_2", "object": "charge", "currency": "usd",
                      "payment_intent": None}))
    ms = list(check(url, store, state(tmp_path, 4)).collect(context(T0)))
    got = values(ms, "payment_volume.value")
    assert got[("currency:usd", "measure:count", "window:60m")] == 121  # 120 + 1 legacy charge
    assert values(ms, "payment_volume.baseline")[
        ("currency:usd", "measure:count", "window:60m")] == 120
    assert values(ms, JUDGED) == {("currency:usd",): 0.0}
    reads = [r for r in server.requests if r.startswith("/v1/events")]
    assert reads and all("types[0]=payment_intent.succeeded&types[1]=charge.succeeded" in r
                         for r in reads)


def test_a_full_stop_is_below_within_ten_minutes(
    fake: Any, store: SqlCursorStore, tmp_path: Path
) -> None:
    server, url = fake
    payments(server, range(11, 61))  # nothing in the last 10 minutes
    ms = list(check(url, store, state(tmp_path, 4)).collect(context(T0)))
    assert values(ms, JUDGED) == {("currency:usd",): 1.0}
    below = next(m for m in ms if m.name == JUDGED)
    assert below.samples == ("usd count over 10 min: 100% below the baseline 20 (alert at 80%)",)


def test_warm_up_is_unknown_with_a_reason_and_still_reports_the_values(
    fake: Any, store: SqlCursorStore, tmp_path: Path
) -> None:
    server, url = fake
    payments(server, range(1, 61))
    with pytest.raises(WarmingUp, match="warm-up: 2 of 4 weeks of history") as caught:
        check(url, store, state(tmp_path, 2)).collect(context(T0))
    reported = {(m.name, m.tags): m.value for m in caught.value.measurements}  # type: ignore[attr-defined]
    assert reported[("payment_volume.value",
                     ("currency:usd", "measure:count", "window:60m"))] == 120
    assert ("stripe.requests", ()) in reported


def test_connect_accounts_are_judged_each_against_its_own_history(
    fake: Any, store: SqlCursorStore, tmp_path: Path
) -> None:
    server, url = fake
    payments(server, range(11, 61), account="acct_1Aa")  # stopped 10 minutes ago
    payments(server, range(1, 61), account="acct_2Bb")  # new: no history yet
    reader = state(tmp_path, 4, 120, "account:acct_1Aa")
    ms = list(check(url, store, reader, accounts=("acct_1Aa", "acct_2Bb")).collect(context(T0)))
    assert values(ms, JUDGED) == {("currency:usd", "account:acct_1Aa"): 1.0}
    # the account warming up is measured (and so recorded), not judged
    assert values(ms, "payment_volume.value")[
        ("currency:usd", "measure:count", "window:60m", "account:acct_2Bb")] == 120
