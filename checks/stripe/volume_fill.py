"""Back-fill of `stripe_payment_volume`'s measurement history from Stripe's
Events, so that a new install judges from its first day instead of being
UNKNOWN for `min_weeks` weeks.

Stripe lists events of the last 30 days. The baseline needs the same window
`weeks` weeks back, so the span read is [now - weeks x 7 days - the longest
window - one bucket, now), cut at Stripe's retention: with the default 4 weeks
that is 28 days and 65 minutes, inside the 30 days, so every baseline week of
every future run is back-filled; a fifth week and beyond (`weeks` > 4) is
older than Stripe keeps and fills only as the live history reaches it.

When: on the first run (no record of a back-fill for this check and account),
and whenever history is missing: a run more than 15 minutes after the last
(the monitor stopped) back-fills the gap since then. A back-fill under way
when a gap opens is started again over both spans.

How: `GET /v1/events` with `types[]` (payment_intent.succeeded,
charge.succeeded), `created[gte]`/`created[lt]`, `limit=100`, newest first
through `starting_after`; at most `history_pages` pages a run and account,
and at most half the time left before the check's deadline, so the run still
reads new events and judges. Each run's pages become per-minute counts and
amounts (checks/stripe/fill_state.py); a window is written into the history
once every minute it covers has been read: the value of each 5-minute bucket
is the window ending at the bucket's last minute, as a run every minute
would have recorded it, and only into buckets that hold nothing
(checks/history.HistoryStore.fill). Progress is saved with the pages, so a
run cut short resumes at the next page.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from billing_monitor.checks.history import HistoryStore, series_key
from billing_monitor.checks.stripe.client import StripeApi
from billing_monitor.checks.stripe.events import RETENTION_SECONDS, Event
from billing_monitor.checks.stripe.fill_state import Fill, FillStore

WEEK_S = 7 * 86400
BUCKET_S = 300
GAP_S = 15 * 60  # longer without a run: the history has a hole to fill
Weighed = Callable[[Event], Sequence[tuple[str, int]]]  # (currency:x | amount:x, weight)


@dataclass(frozen=True)
class FillRun:
    fill: Fill
    pages: int = 0
    buckets: int = 0  # buckets written into the history this run


def plan(fill: Fill | None, now: int, reach_s: int, window_s: int) -> tuple[Fill, bool]:
    """The back-fill this run works on, and whether its kept minutes are void
    (a span read anew)."""
    top = now - now % 60  # this run's window end: live history from here on
    floor = now - RETENTION_SECONDS + 60  # what Stripe still lists
    if fill is not None and now - fill.last_run <= GAP_S:
        return replace(fill, last_run=now), False
    if fill is None:
        since = top - reach_s
    else:  # a hole since the last run; one under way is read again with it
        since = fill.last_run - window_s - BUCKET_S
        since = since if fill.done else min(since, fill.since)
    since = max(since, floor)
    return Fill(since, top, None, top, top, now, since >= top), True


def window_values(minutes: dict[tuple[int, str], int], lo: int, ends: Sequence[int],
                  windows: Sequence[int], tags: tuple[str, ...],
                  ) -> list[tuple[int, str, float]]:
    """Each window's count and amount per currency ending at each of `ends`
    (time, series key, value), from per-minute totals at or after `lo`
    (prefix sums: one pass over the minutes, O(1) a window)."""
    top = max(ends)
    size = (top - lo) // 60 + 1
    per_key: dict[str, list[int]] = {}
    for (m, key), n in minutes.items():
        if lo <= m < top:
            per_key.setdefault(key, [0] * size)[(m - lo) // 60 + 1] += n
    prefix = {k: list(itertools.accumulate(v)) for k, v in per_key.items()}
    currencies = sorted(k.partition(":")[2] for k in prefix if k.startswith("currency:"))
    out: list[tuple[int, str, float]] = []
    for e, w, cur in itertools.product(ends, windows, currencies):
        i, j = (e - w * 60 - lo) // 60, (e - lo) // 60
        count = prefix[f"currency:{cur}"][j] - prefix[f"currency:{cur}"][i]
        if count <= 0:
            continue  # as a run records: a currency with no payment in the window is absent
        amounts = prefix.get(f"amount:{cur}")
        amount = amounts[j] - amounts[i] if amounts else 0
        for measure, value in (("count", count), ("amount", amount)):
            out.append((e, series_key("payment_volume.value", (
                f"currency:{cur}", f"measure:{measure}", f"window:{w}m", *tags)),
                float(value)))
    return out


class HistoryFiller:
    def __init__(self, check: str, api: StripeApi, store: FillStore, history: HistoryStore,
                 types: tuple[str, ...], weigh: Weighed, windows: Sequence[int], weeks: int,
                 max_pages: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._check, self._api, self._store, self._history = check, api, store, history
        self._types, self._weigh, self._windows = types, weigh, tuple(windows)
        self._reach = weeks * WEEK_S + max(windows) * 60 + BUCKET_S
        self._max_pages, self._monotonic = max_pages, monotonic

    def run(self, scope: str, account: str | None, now: int, deadline: float,
            tags: tuple[str, ...]) -> FillRun:
        fill, restart = plan(self._store.load(scope), now, self._reach, max(self._windows) * 60)
        if fill.done:
            self._store.save(scope, fill, {}, restart=restart)
            return FillRun(fill)
        fill, added, pages = self._read(fill, account, deadline)
        self._store.save(scope, fill, added, restart=restart)
        fill, buckets = self._write(scope, fill, tags)
        self._store.save(scope, fill, {})
        return FillRun(fill, pages, buckets)

    def _read(self, fill: Fill, account: str | None, deadline: float,
              ) -> tuple[Fill, dict[tuple[int, str], int], int]:
        start = self._monotonic()
        stop = start + max(0.0, deadline - start) / 2  # half the time left, at most
        query: dict[str, Any] = {"limit": 100, "types": list(self._types),
                                 "created": {"gte": fill.since, "lt": fill.until}}
        if fill.next_id:
            query["starting_after"] = fill.next_id
        added: dict[tuple[int, str], int] = {}
        pages = 0
        while pages < self._max_pages and self._monotonic() < stop:
            page = self._api.get("/v1/events", query, account)
            pages += 1
            data: list[Event] = page.get("data", [])
            for e in data:
                minute = int(e["created"]) // 60 * 60
                for key, n in self._weigh(e):
                    added[minute, key] = added.get((minute, key), 0) + n
            if not (page.get("has_more") and data):
                return replace(fill, next_id=None, read_down_to=fill.since), added, pages
            last = data[-1]
            # Events of the last one's second may go on on the next page.
            fill = replace(fill, next_id=str(last["id"]),
                           read_down_to=min(fill.read_down_to, int(last["created"]) + 1))
            query["starting_after"] = last["id"]
        return fill, added, pages

    def _write(self, scope: str, fill: Fill, tags: tuple[str, ...]) -> tuple[Fill, int]:
        """Windows whose every minute is read, into the history's empty buckets."""
        longest = max(self._windows) * 60
        first = fill.filled_down_to - 1
        first_end = first - (first % BUCKET_S) + BUCKET_S - 60  # a bucket's last minute
        if first_end >= fill.filled_down_to:
            first_end -= BUCKET_S
        ends = list(itertools.takewhile(
            lambda e: e - longest >= fill.read_down_to,
            range(first_end, fill.since - 1, -BUCKET_S)))
        read_all = fill.next_id is None and fill.read_down_to == fill.since
        if not ends:
            return replace(fill, done=read_all), 0
        lo = ends[-1] - longest
        minutes = self._store.minutes(scope, lo, fill.filled_down_to)
        values = [(datetime.fromtimestamp(e, UTC), key, v)
                  for e, key, v in window_values(minutes, lo, ends, self._windows, tags)]
        self._history.fill(self._check, values)
        return replace(fill, filled_down_to=ends[-1], done=read_all), len(ends)
