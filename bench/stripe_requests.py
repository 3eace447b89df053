"""Stripe requests per run, measured against the spec-validating fake Stripe
(tests/peers/fake_stripe.py, Stripe's list and search semantics on loopback).

1. The grid: `payment_failure_rate` at 100,000 PaymentIntents a day, for each
   schedule x window: the first run (the backfill of the window, by `created`,
   `backfill_max_pages=500`) and the steady run (the incremental cursor, the
   average of STEADY_RUNS runs, each after one more schedule interval of
   payments), against a naive re-listing of the window's PaymentIntents.
2. Every Stripe check at 1k / 100k / 1M PaymentIntents a day, default options,
   a run every 5 minutes: first run and steady run. The data: one event per
   payment (1 in 20 declined), 0.1% of a day's PaymentIntents left in each
   stuck status, 100 past-due subscriptions, 50 open overdue invoices, 3
   webhook endpoints, 10 events pending delivery, a dispute and a failed payout
   an hour, and the application's records for the reconciliation.

Only the history a run can reach is generated (at 1M a day: the last 2 hours;
a backfill stops at its page bound long before). Run:
`.venv/bin/python bench/stripe_requests.py [grid|checks]` (about 3 minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine

from bench.stripe_traffic import Traffic, app_services, naive_run
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.checks.stripe.base import StripeCheckOptions
from billing_monitor.checks.stripe.feeds import FailureRateOptions, PaymentFailureRate
from billing_monitor.checks.stripe.state import SqlCursorStore
from tests.peers.fake_stripe import api_for, context, fake_stripe

T0 = 1_790_000_040
STEADY_RUNS = 3
SCHEDULES = (1, 5, 15, 60)  # minutes
WINDOWS = (60, 6 * 60, 24 * 60)  # minutes
VOLUMES = (1_000, 100_000, 1_000_000)


def grid_cell(schedule: int, window: int, tmp: Path) -> dict[str, Any]:
    with fake_stripe() as (fake, url):
        traffic = Traffic(fake, 100_000)
        traffic.fill(T0 - window * 60 - 600, T0)
        store = SqlCursorStore(create_engine(f"sqlite:///{tmp / f'g{schedule}-{window}.db'}"))
        opts = FailureRateOptions(type="payment_failure_rate", window_minutes=window,
                                  backfill_max_pages=500, max_pages=100)
        api = api_for(url)
        check = PaymentFailureRate("failure_rate", api, store, opts)
        first = {m.name: m for m in check.collect(context(T0))}
        backfill = first["stripe.requests"].value
        capped = any("capped:true" in m.tags for m in first.values())
        steady, naive, now = [], [], T0
        for _ in range(STEADY_RUNS):
            traffic.fill(now, now + schedule * 60)
            now += schedule * 60
            ms = {m.name: m.value for m in check.collect(context(now))}
            steady.append(ms["stripe.requests"])
            naive.append(naive_run(api, now, window * 60))
        assert fake.refused == [], fake.refused
    return {"backfill": backfill, "capped": capped, "steady": sum(steady) / len(steady),
            "naive": sum(naive) / len(naive)}


def grid() -> None:
    print("payment_failure_rate, 100,000 PaymentIntents/day: requests per run "
          "(first run (backfill) / steady run / naive re-listing)")
    print("| schedule \\ window | " + " | ".join(f"{w // 60} h" for w in WINDOWS) + " |")
    print("|---|" + "---|" * len(WINDOWS))
    with tempfile.TemporaryDirectory() as d:
        for s in SCHEDULES:
            cells = []
            for w in WINDOWS:
                r = grid_cell(s, w, Path(d))
                mark = " (capped)" if r["capped"] else ""
                cells.append(f"{r['backfill']:.0f}{mark} / {r['steady']:.1f} / {r['naive']:.0f}")
            print(f"| every {s} min | " + " | ".join(cells) + " |", flush=True)


def per_check(volume: int, tmp: Path) -> dict[str, tuple[float, float, bool]]:
    out: dict[str, tuple[float, float, bool]] = {}
    with fake_stripe() as (fake, url):
        traffic = Traffic(fake, volume)
        history = 24 * 3600 + 600 if volume <= 100_000 else 2 * 3600
        traffic.fill(T0 - history, T0)
        traffic.static(T0)
        services = app_services(url, tmp / f"state-{volume}.db", tmp / f"app-{volume}.db",
                                traffic)
        # stripe_payment_volume is left out: it is UNKNOWN until weeks of history
        # exist, and reads the same event feed as payment_failure_rate.
        checks = {n: t.build(n, t.options(type=n), services) for n, t in CHECK_TYPES.items()
                  if issubclass(t.options, StripeCheckOptions) and n != "stripe_payment_volume"}
        first = {n: {m.name: m for m in c.collect(context(T0))} for n, c in checks.items()}
        traffic.fill(T0, T0 + 300)
        steady = {n: {m.name: m.value for m in c.collect(context(T0 + 300))}
                  for n, c in checks.items()}
        for n in checks:
            capped = first[n]["stripe.capped_counts"].value > 0 or steady[n][
                "stripe.capped_counts"] > 0
            out[n] = (first[n]["stripe.requests"].value, steady[n]["stripe.requests"], capped)
        assert fake.refused == [], fake.refused
    return out


def checks_table() -> None:
    print("Every Stripe check, default options, a run every 5 min: requests per run "
          "(first run / steady run; * = a count was capped)")
    print("| check | " + " | ".join(f"{v:,} PI/day" for v in VOLUMES) + " |")
    print("|---|" + "---|" * len(VOLUMES))
    with tempfile.TemporaryDirectory() as d:
        results = {v: per_check(v, Path(d)) for v in VOLUMES}
    for name in sorted(results[VOLUMES[0]]):
        cells = []
        for v in VOLUMES:
            first, steady, capped = results[v][name]
            cells.append(f"{first:.0f} / {steady:.0f}{' *' if capped else ''}")
        print(f"| `{name}` | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    what = sys.argv[1:] or ["grid", "checks"]
    start = time.perf_counter()
    if "grid" in what:
        grid()
    if "checks" in what:
        checks_table()
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
