"""Incremental reads of Stripe's Events API.

Steady state: `ending_before=<cursor>` with `types[]`, paging towards newer
events, so a run costs requests in proportion to new activity, not to the
window. The cursor lags `overlap_seconds` behind the clock: events created
in the last seconds may still surface out of order, so they are read again
next run and de-duplicated by id. First run (or a cursor Stripe no longer
knows, or one older than its 30-day event retention): `created[gte]` with a
bounded number of pages (the backfill). Each new event is classified into
count keys and sample ids, kept per minute in the CursorStore.

Stripe answers `ending_before=<an id it does not know>` (a key switched from
test to live mode, a restored state store, an event past retention) with a 400
invalid_request_error whose `param` is `ending_before` (a 404 from older
behaviour is taken the same way): the read falls back to the backfill.
A read that stops at its page bound with more to read says so (`capped`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from billing_monitor.checks.stripe.client import StripeApi, StripeUnavailable
from billing_monitor.checks.stripe.state import Cursor, CursorStore, CursorUpdate

RETENTION_SECONDS = 30 * 86400
Event = dict[str, Any]
# An event's contributions: (count key, sample id or None) pairs, or triples
# whose third item is what it adds (an amount in minor units; else 1).
Contribution = tuple[str, str | None] | tuple[str, str | None, int]
Classifier = Callable[[Event], Sequence[Contribution]]


@dataclass(frozen=True)
class FeedOptions:
    types: tuple[str, ...]
    window_seconds: int
    overlap_seconds: int = 5
    backfill_max_pages: int = 20
    max_pages: int = 50


@dataclass(frozen=True)
class ReadResult:
    new_events: int
    covered_since: int  # the window before this is not (yet) in the counts
    mode: str  # "incremental" | "backfill"
    capped: bool = False  # stopped at the page bound: newer events wait for the next run


def unknown_cursor(exc: StripeUnavailable) -> bool:
    """Stripe no longer knows the event we page from."""
    return exc.status == 404 or (exc.status == 400 and exc.param == "ending_before")


def _created_since(cursor: Cursor | None, now: int, opts: FeedOptions) -> int | None:
    """None when the cursor can be used with ending_before."""
    floor = max(now - opts.window_seconds, now - RETENTION_SECONDS + 60)
    if cursor is None:
        return floor
    if cursor.event_id is None or cursor.event_created < now - RETENTION_SECONDS + 60:
        # From the cursor's second on, ids are still in the seen table: no double counts.
        return max(floor, cursor.event_created)
    return None


class EventReader:
    def __init__(self, api: StripeApi, store: CursorStore) -> None:
        self._api = api
        self._store = store

    def _newer_than(
        self, cursor_id: str, account: str | None, opts: FeedOptions
    ) -> tuple[list[Event], bool]:
        """Pages go oldest to newest; each page is newest first. Returns newest
        first, and whether more were left at the page bound."""
        pages: list[list[Event]] = []
        params: dict[str, Any] = {"limit": 100, "types": list(opts.types)}
        before = cursor_id
        more = False
        for _ in range(opts.max_pages):
            page = self._api.get("/v1/events", {**params, "ending_before": before}, account)
            data: list[Event] = page.get("data", [])
            more = bool(page.get("has_more")) and bool(data)
            if data:
                pages.append(data)
                before = data[0]["id"]
            if not more:
                break
        return [e for page in reversed(pages) for e in page], more

    def _created(
        self, since: int, account: str | None, opts: FeedOptions
    ) -> tuple[list[Event], int]:
        """Newest first from `since`; returns the events and the time they cover from."""
        query: dict[str, Any] = {"limit": 100, "types": list(opts.types),
                                 "created": {"gte": since}}
        out: list[Event] = []
        more = False
        for _ in range(opts.backfill_max_pages):
            page = self._api.get("/v1/events", query, account)
            data: list[Event] = page.get("data", [])
            out.extend(data)
            more = bool(page.get("has_more")) and bool(data)
            if not more:
                break
            query = {**query, "starting_after": data[-1]["id"]}
        # Stopped at the bound: the counts cover the window from the oldest read on.
        return out, int(out[-1]["created"]) if more else since

    def read(
        self, scope: str, account: str | None, now: int, opts: FeedOptions, classify: Classifier
    ) -> ReadResult:
        cursor = self._store.load(scope)
        since = _created_since(cursor, now, opts)
        if since is None and cursor is not None and cursor.event_id is not None:
            try:
                events, more = self._newer_than(cursor.event_id, account, opts)
                result = self._commit(scope, cursor, events, now, opts, classify, "incremental")
                return ReadResult(result.new_events, result.covered_since, result.mode, more)
            except StripeUnavailable as exc:
                if not unknown_cursor(exc):
                    raise
                since = max(now - opts.window_seconds, cursor.event_created)
        assert since is not None
        events, covered = self._created(since, account, opts)
        if cursor is not None:
            covered = min(covered, cursor.covered_since)
        start = Cursor(cursor.event_id if cursor else None, since, covered)
        return self._commit(scope, start, events, now, opts, classify, "backfill")

    def _commit(
        self, scope: str, cursor: Cursor, events: list[Event], now: int,
        opts: FeedOptions, classify: Classifier, mode: str,
    ) -> ReadResult:
        already = self._store.seen(scope, (e["id"] for e in events))
        update = CursorUpdate(cursor=cursor)
        fresh: set[str] = set()
        for e in events:
            if e["id"] in already or e["id"] in fresh:
                continue
            fresh.add(e["id"])
            created = int(e["created"])
            update.seen.append((e["id"], created))
            for item in classify(e):
                key, sample = item[0], item[1]
                bucket = created - created % 60
                weight = item[2] if len(item) == 3 else 1
                update.counts[(bucket, key)] = update.counts.get((bucket, key), 0) + weight
                if sample is not None:
                    update.samples.append((key, sample, created))
        # The new cursor: the newest event at least `overlap` seconds old.
        lag = now - opts.overlap_seconds
        anchor = next((e for e in events if int(e["created"]) <= lag), None)
        if anchor is not None:
            update.cursor = Cursor(anchor["id"], int(anchor["created"]), cursor.covered_since)
        elif mode == "backfill":
            # Everything since `since` was read: next time start from the lag,
            # by `created`, since no event old enough can serve as a cursor.
            update.cursor = Cursor(None, max(lag, cursor.event_created), cursor.covered_since)
        update.forget_before = now - opts.window_seconds - 60
        self._store.apply(scope, update)
        return ReadResult(len(fresh), cursor.covered_since, mode)
