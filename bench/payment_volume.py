"""Detection delay per incident and false alerts per simulated week of the
payment_volume check, replayed with the product's own judgement and alert
policy (checks/volume_replay.py) over labelled synthetic series
(bench/payment_series.py).

    python -m bench.payment_volume [--weeks 48] [--seeds 3] [--first-seed 1] [--set drop=0.25 ...]
        [--policy 3/10 --policy 3/60 ...]

`--policy TRIGGER/RESOLVE` (repeatable): alert policies applied side by side
to the very same judged runs (one judgement pass, checks/volume_replay.py);
without it, the options' own policy.

Normal traffic: `--weeks` weeks after 4 weeks of history, from Monday
2026-01-05 (month ends, Black Friday 2026-11-27 and Cyber Monday included at
48 weeks), every alert is false. Incidents: 5 weeks after the history, each
kind twice at seeded daytime hours, plus a full stop at 03:30 (under
min_volume: the freshness check's job); an alert is the incident's if its
currency is affected and it opens between the start and one window after the
end. Evaluations every minute (the check's default schedule).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.payment_series import UTC, Incident, Series, generate, incident_plan, night_stop
from billing_monitor.checks.payment_volume import PaymentVolumeOptions, Totals, Window
from billing_monitor.checks.policy import AlertPolicy
from billing_monitor.checks.volume_replay import Change, replay_policies

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
WARMUP_WEEKS = 4
# Amounts are judged with floors in major units (JPY is zero-decimal).
AMOUNTS: dict[str, Any] = {"amount_floor": {"usd": 300, "eur": 150, "jpy": 15_000},
                           "amount_min_volume": {"usd": 1_500, "eur": 750, "jpy": 75_000}}


class SeriesSource:
    """A VolumeSource over a synthetic series (prefix sums: O(1) per window)."""

    def __init__(self, series: Series) -> None:
        self.series = series
        self.counts = {c: [0, *itertools.accumulate(v)] for c, v in series.counts.items()}
        self.amounts = {c: [0, *itertools.accumulate(v)] for c, v in series.amounts.items()}

    def totals(self, start: datetime, end: datetime) -> Window | None:
        i, j = self.series.index(start), self.series.index(end)
        if i < 0 or j > self.series.minutes:
            return None  # before the series began: no history
        return {c: Totals(n[j] - n[i], self.amounts[c][j] - self.amounts[c][i])
                for c, n in self.counts.items()}


@dataclass(frozen=True)
class Alert:
    currency: str
    start: datetime
    end: datetime | None


def alerts(changes: list[Change], opened_by: list[str] | None = None) -> list[Alert]:
    """Alerts with their resolves. `opened_by`: per check (one incident for the
    check, as the alert engine pages), the currencies below when each opened."""
    labels = iter(opened_by or [])
    opened: dict[str, tuple[str, datetime]] = {}
    out: list[Alert] = []
    for c in changes:
        if c.event == "alert":
            opened[c.currency] = (next(labels) if opened_by else c.currency, c.at)
        else:
            label, at = opened.pop(c.currency)
            out.append(Alert(label, at, c.at))
    out += [Alert(label, at, None) for label, at in opened.values()]
    return sorted(out, key=lambda a: a.start)


def belongs(a: Alert, inc: Incident, window: timedelta) -> bool:
    return ((inc.currency is None or inc.currency in a.currency.split("+"))
            and inc.start <= a.start <= inc.end + window)


def run(series: Series, options: PaymentVolumeOptions) -> list[Alert]:
    return run_policies(series, options, [options.alert])[0]


def run_policies(series: Series, options: PaymentVolumeOptions,
                 policies: list[AlertPolicy], per_check: bool = False) -> list[list[Alert]]:
    first = series.start + timedelta(weeks=WARMUP_WEEKS)
    end = series.start + timedelta(minutes=series.minutes)
    return [alerts(r.changes, r.opened_by if per_check else None) for r in replay_policies(
        SeriesSource(series), options, first, end, timedelta(minutes=1), policies, per_check)]


def policy_from(text: str, base: AlertPolicy) -> AlertPolicy:
    """`3/60`: trigger_after 3, resolve_after 60."""
    trigger, _, resolve = text.partition("/")
    return base.model_copy(update={"trigger_after": int(trigger),
                                   "resolve_after": int(resolve)})


def delays(found: list[Alert], incidents: list[Incident],
           window: timedelta) -> tuple[dict[Incident, float | None], list[Alert]]:
    out: dict[Incident, float | None] = {}
    for inc in incidents:
        hits = [a.start for a in found if belongs(a, inc, window)]
        out[inc] = (min(hits) - inc.start).total_seconds() / 60 if hits else None
    false = [a for a in found if not any(belongs(a, i, window) for i in incidents)]
    return out, false


def options_from(pairs: list[str]) -> PaymentVolumeOptions:
    raw: dict[str, Any] = {"type": "payment_volume", **AMOUNTS}
    for pair in pairs:
        key, _, value = pair.partition("=")
        number = float(value) if "." in value else int(value)
        if key.startswith("alert."):  # alert.resolve_after=10
            default = PaymentVolumeOptions.model_fields["alert"].default
            raw["alert"] = {**raw.get("alert", default.model_dump()),
                            key.removeprefix("alert."): number}
        else:
            raw[key] = number
    return PaymentVolumeOptions(**raw)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weeks", type=int, default=48, help="weeks of normal traffic per seed")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--weather", type=float, default=0.06, help="day-level noise (sd of log)")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                   help="a payment_volume option, e.g. drop=0.25")
    p.add_argument("--policy", action="append", default=[], metavar="TRIGGER/RESOLVE",
                   help="an alert policy to compare, e.g. 3/60 (repeatable)")
    p.add_argument("--per-check", action="store_true",
                   help="one incident per check, as the alert engine pages (default: one "
                        "alert per currency, as backtest prints them)")
    a = p.parse_args(argv)
    options = options_from(a.set)
    policies = [policy_from(t, options.alert) for t in a.policy] or [options.alert]
    names = [f"{q.trigger_after}/{q.resolve_after}" for q in policies]
    window = timedelta(minutes=options.window_minutes)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"options: " + ", ".join(f"{k}={getattr(options, k)}" for k in (
              "window_minutes", "drop", "floor", "min_volume", "fast_window_minutes",
              "fast_drop", "fast_min_volume", "band_k", "weeks", "min_weeks")))
    print("alert policies (trigger_after/resolve_after), one run a minute: " + ", ".join(names)
          + ("; one incident per check (as paged)" if a.per_check else "; alerts per currency"))
    print("\n| seed | incident | currency | starts | " + " | ".join(
        f"delay (min), {n}" for n in names) + " |\n|---|---|---|---|" + "---|" * len(names))
    false_total = [0] * len(policies)
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        t0 = time.perf_counter()
        incidents = [*incident_plan(START, WARMUP_WEEKS, seed), night_stop(START, WARMUP_WEEKS)]
        faulty = generate(START, WARMUP_WEEKS + 5, seed + 1000, incidents, weather=a.weather)
        scored = [delays(found, incidents, window)
                  for found in run_policies(faulty, options, policies, a.per_check)]
        for inc in incidents:
            cells = ["missed" if (d := found[inc]) is None else f"{d:.0f}" for found, _ in scored]
            print(f"| {seed} | {inc.kind} | {inc.currency or 'all'} | "
                  f"{inc.start:%a %H:%M} | " + " | ".join(cells) + " |")
        normal = generate(START, WARMUP_WEEKS + a.weeks, seed, weather=a.weather)
        spurious = run_policies(normal, options, policies, a.per_check)
        for i, (name, sp, (_, false)) in enumerate(zip(names, spurious, scored, strict=True)):
            false_total[i] += len(sp)
            print(f"| {seed} | (policy {name}: false alerts: {len(false)} in the incident "
                  f"weeks, {len(sp)} in {a.weeks} normal weeks) | | |" + " |" * len(names))
            for s in sp:
                print(f"|   | false alert, {name} | {s.currency} | "
                      f"{s.start:%a %Y-%m-%d %H:%M} |" + " |" * len(names))
        print(f"| {seed} | ({time.perf_counter() - t0:.0f} s) | | |" + " |" * len(names))
    weeks = a.weeks * a.seeds
    for name, total in zip(names, false_total, strict=True):
        print(f"\npolicy {name}: false alerts over normal traffic: {total} in {weeks} weeks = "
              f"{total / weeks * 8:.2f} per 8 weeks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
