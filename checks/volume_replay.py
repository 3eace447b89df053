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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from billing_monitor.checks.contract import Measurement
from billing_monitor.checks.payment_volume import (
    JUDGED,
    PaymentVolumeOptions,
    VolumeSource,
    WarmingUp,
    Window,
    judge_all,
)
from billing_monitor.checks.policy import AlertPolicy


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
    opened_by: list[str] = field(default_factory=list)  # per_check: currencies of each alert


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


CHECK = "check"  # per_check: the alert of the whole check, as the alert engine has it


class _Policy:
    """One alert policy applied to the judged runs: per currency (what
    `backtest` prints, to tell which currency), or `per_check` as the alert
    engine applies it: one incident for the check, below while any currency
    is (the alert's `currency` then names the currencies below when it opened,
    joined by '+')."""

    def __init__(self, policy: AlertPolicy, per_check: bool = False) -> None:
        self.policy = policy
        self.per_check = per_check
        self.out = Replay()
        self.low_runs: dict[str, int] = {}
        self.ok_runs: dict[str, int] = {}
        self.open: set[str] = set()

    def step(self, at: datetime, judged: list[Measurement]) -> None:
        below = ""
        if self.per_check:
            low = [m for m in judged if m.value > 0]
            below = "+".join(m.tags[0].removeprefix("currency:") for m in low)
            judged = [Measurement(JUDGED, 1.0 if low else 0.0, (f"currency:{CHECK}",),
                                  tuple(s for m in low for s in m.samples))]
        for m in judged:
            cur = m.tags[0].removeprefix("currency:")
            if m.value > 0:
                self.low_runs[cur] = self.low_runs.get(cur, 0) + 1
                self.ok_runs[cur] = 0
                if cur not in self.open and self.low_runs[cur] >= self.policy.trigger_after:
                    self.open.add(cur)
                    self.out.changes.append(Change(at, cur, "alert", "; ".join(m.samples)))
                    if self.per_check:  # which currencies were below when it opened
                        self.out.opened_by.append(below)
            else:
                self.ok_runs[cur] = self.ok_runs.get(cur, 0) + 1
                self.low_runs[cur] = 0
                if cur in self.open and self.ok_runs[cur] >= self.policy.resolve_after:
                    self.open.discard(cur)
                    self.out.changes.append(Change(at, cur, "resolve"))


def replay(source: VolumeSource, options: PaymentVolumeOptions, start: datetime,
           end: datetime, step: timedelta) -> Replay:
    return replay_policies(source, options, start, end, step, (options.alert,))[0]


def replay_policies(source: VolumeSource, options: PaymentVolumeOptions, start: datetime,
                    end: datetime, step: timedelta, policies: Sequence[AlertPolicy],
                    per_check: bool = False) -> list[Replay]:
    """One judgement pass, each of `policies` applied to it (the benchmark
    compares alert policies side by side on the very same runs)."""
    cached = CachedSource(source)
    states = [_Policy(p, per_check) for p in policies]
    runs = unknown = 0
    reason = ""
    for at in steps(start, end, step):
        runs += 1
        try:
            ms = judge_all(cached, at, options)
        except WarmingUp as exc:
            unknown += 1
            reason = str(exc)
            continue  # UNKNOWN changes no alert, as in the alert engine
        judged = [m for m in ms if m.name == JUDGED]
        for s in states:
            s.step(at, judged)
    for s in states:
        s.out.runs, s.out.unknown, s.out.unknown_reason = runs, unknown, reason
        s.out.still_open = sorted(s.open)
    return [s.out for s in states]
