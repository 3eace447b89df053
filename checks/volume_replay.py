"""Replay a payment_volume check over history: every time it would have alerted
and resolved, per currency, so that a window, drop and floor can be tuned
before going live (`billing-monitor backtest`).

The replay runs the check's own judgement (`judge_all`) at every step, and
applies the check's alert policy as the alert engine does: an alert after
`trigger_after` consecutive runs below the baseline, a resolve after
`resolve_after` runs that are not. Windows are read once each (a cache): a
window is the current one of one step and the history of the steps a week on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from billing_monitor.checks.payment_volume import (
    JUDGED,
    PaymentVolumeOptions,
    VolumeSource,
    WarmingUp,
    Window,
    judge_all,
)


@dataclass(frozen=True)
class Change:
    at: datetime
    currency: str
    event: str  # "alert" | "resolve"
    detail: str = ""


@dataclass
class Replay:
    changes: list[Change] = field(default_factory=list)
    runs: int = 0
    unknown: int = 0  # runs with no history to judge (warm-up)
    unknown_reason: str = ""
    still_open: list[str] = field(default_factory=list)  # currencies alerting at the end


class CachedSource:
    def __init__(self, source: VolumeSource) -> None:
        self._source = source
        self._seen: dict[tuple[datetime, datetime], Window | None] = {}
        self.reads = 0

    def totals(self, start: datetime, end: datetime) -> Window | None:
        key = (start, end)
        if key not in self._seen:
            self.reads += 1
            self._seen[key] = self._source.totals(start, end)
            if len(self._seen) > 200_000:  # a year of minutes and its history, at most
                self._seen.pop(next(iter(self._seen)))
        return self._seen[key]


def steps(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    at = start
    while at < end:
        yield at
        at += step


def replay(source: VolumeSource, options: PaymentVolumeOptions, start: datetime,
           end: datetime, step: timedelta) -> Replay:
    cached = CachedSource(source)
    out = Replay()
    low_runs: dict[str, int] = {}
    ok_runs: dict[str, int] = {}
    open_: set[str] = set()
    policy = options.alert
    for at in steps(start, end, step):
        out.runs += 1
        try:
            ms = judge_all(cached, at, options)
        except WarmingUp as exc:
            out.unknown += 1
            out.unknown_reason = str(exc)
            continue  # UNKNOWN changes no alert, as in the alert engine
        for m in (m for m in ms if m.name == JUDGED):
            cur = m.tags[0].removeprefix("currency:")
            if m.value > 0:
                low_runs[cur] = low_runs.get(cur, 0) + 1
                ok_runs[cur] = 0
                if cur not in open_ and low_runs[cur] >= policy.trigger_after:
                    open_.add(cur)
                    out.changes.append(Change(at, cur, "alert", "; ".join(m.samples)))
            else:
                ok_runs[cur] = ok_runs.get(cur, 0) + 1
                low_runs[cur] = 0
                if cur in open_ and ok_runs[cur] >= policy.resolve_after:
                    open_.discard(cur)
                    out.changes.append(Change(at, cur, "resolve"))
    out.still_open = sorted(open_)
    return out
