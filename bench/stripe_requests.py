"""Stripe requests per steady-state run: the incremental Events cursor against
a naive re-listing of the whole window, at a simulated 100,000 PaymentIntents
a day and a 5-minute schedule.

A local fake Stripe server (tests/peers/fake_stripe.py, Stripe's list
semantics) holds one `payment_intent.succeeded`/`payment_failed` event and one
PaymentIntent per payment, spread evenly. For each window: one backfill run,
then steady runs each after 5 more minutes of payments. The naive check lists
/v1/payment_intents created in the window (the PaymentIntents list has no
status filter) on every run. Run: `.venv/bin/python bench/stripe_requests.py`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine

from checks.stripe_feeds import FailureRateOptions, PaymentFailureRate
from checks.stripe_state import SqlCursorStore
from tests.peers.fake_stripe import FakeStripe, api_for, context, event, fake_stripe

PER_DAY = 100_000
SCHEDULE = 300  # seconds
STEADY_RUNS = 5
T0 = 1_790_000_040


class Traffic:
    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        self.n = 0
        self.until = 0.0

    def fill(self, start: float, end: float) -> None:
        step = 86400 / PER_DAY
        t = max(start, self.until)
        pis, events = [], []
        while t < end:
            self.n += 1
            failed = self.n % 20 == 0
            pi: dict[str, Any] = {
                "id": f"pi_{self.n:09d}", "object": "payment_intent", "created": int(t),
                "status": "requires_payment_method" if failed else "succeeded",
                "last_payment_error": {"code": "card_declined", "decline_code": "do_not_honor"}
                if failed else None,
            }
            kind = "payment_intent.payment_failed" if failed else "payment_intent.succeeded"
            pis.append(pi)
            events.append(event(f"evt_{self.n:09d}", kind, int(t), pi))
            t += step
        self.until = t
        self.fake.add("payment_intents", *pis)
        self.fake.add("events", *events)


def naive_run(api: Any, now: int, window: int) -> tuple[int, float]:
    start, before = time.perf_counter(), api.counter.total
    failed = ok = 0
    for page in api.pages("/v1/payment_intents", {"created": {"gte": now - window}}, None,
                          max_pages=100_000):
        for pi in page:
            failed += pi["status"] == "requires_payment_method"
            ok += pi["status"] == "succeeded"
    return api.counter.total - before, time.perf_counter() - start


def bench(window_minutes: int, tmp: Path) -> dict[str, float]:
    window = window_minutes * 60
    with fake_stripe() as (fake, url):
        traffic = Traffic(fake)
        traffic.fill(T0 - window - 600, T0)
        store = SqlCursorStore(create_engine(f"sqlite:///{tmp / f'state-{window_minutes}.db'}"))
        opts = FailureRateOptions(type="payment_failure_rate", window_minutes=window_minutes,
                                  backfill_max_pages=500)
        api = api_for(url)
        check = PaymentFailureRate("failure_rate", api, store, opts)
        t = time.perf_counter()
        check.collect(context(T0))
        backfill = (api.counter.total, time.perf_counter() - t)
        inc_req, inc_s, naive_req, naive_s = [], [], [], []
        now = T0
        for _ in range(STEADY_RUNS):
            traffic.fill(now, now + SCHEDULE)
            now += SCHEDULE
            before, t = api.counter.total, time.perf_counter()
            ms = {m.name: m.value for m in check.collect(context(now))}
            inc_req.append(api.counter.total - before)
            inc_s.append(time.perf_counter() - t)
            assert ms["stripe.requests"] == inc_req[-1]
            r, s = naive_run(api, now, window)
            naive_req.append(r)
            naive_s.append(s)
    return {
        "window_min": window_minutes, "backfill_requests": backfill[0],
        "backfill_s": backfill[1],
        "inc_requests": sum(inc_req) / len(inc_req), "inc_s": sum(inc_s) / len(inc_s),
        "naive_requests": sum(naive_req) / len(naive_req),
        "naive_s": sum(naive_s) / len(naive_s),
    }


def main() -> None:
    print(f"{PER_DAY} PaymentIntents/day, a run every {SCHEDULE // 60} min, "
          f"{STEADY_RUNS} steady runs averaged")
    print("| window | backfill (req / s) | incremental run (req / s) | naive run (req / s) "
          "| fewer requests |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for minutes in (60, 6 * 60, 24 * 60):
            r = bench(minutes, Path(d))
            print(f"| {minutes // 60} h | {r['backfill_requests']:.0f} / {r['backfill_s']:.2f} "
                  f"| {r['inc_requests']:.1f} / {r['inc_s']:.3f} "
                  f"| {r['naive_requests']:.1f} / {r['naive_s']:.3f} "
                  f"| {r['naive_requests'] / r['inc_requests']:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
