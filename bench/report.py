"""Summaries of the measured runs: medians, speed-ups, a markdown table."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    engine: str
    orders: int
    impl: str
    runs: int
    median_s: float
    min_s: float
    peak_rss_mib: float  # the largest peak over the runs
    rss_growth_mib: float  # peak minus the RSS before the checks ran
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(engine: str, orders: int, impl: str, runs: list[dict[str, Any]]) -> Row:
    seconds = [float(r["seconds"]) for r in runs]
    return Row(
        engine=engine,
        orders=orders,
        impl=impl,
        runs=len(runs),
        median_s=statistics.median(seconds),
        min_s=min(seconds),
        peak_rss_mib=max(float(r["peak_rss_mib"]) for r in runs),
        rss_growth_mib=max(float(r["peak_rss_mib"]) - float(r["rss_before_mib"]) for r in runs),
        counts=dict(runs[0]["counts"]),
    )


def speedup(rows: list[Row], row: Row) -> float | None:
    """naive median / fast median for the same engine and size."""
    if row.impl != "fast":
        return None
    for other in rows:
        if (other.engine, other.orders, other.impl) == (row.engine, row.orders, "naive"):
            return other.median_s / row.median_s
    return None


def markdown(rows: list[Row]) -> str:
    head = (
        "| engine | orders | implementation | median wall (s) | min (s) | runs "
        "| peak RSS (MiB) | RSS growth (MiB) | speed-up | unbilled / missing / failed |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for r in rows:
        s = speedup(rows, r)
        c = r.counts
        lines.append(
            f"| {r.engine} | {r.orders:,} | {r.impl} | {r.median_s:.3f} | {r.min_s:.3f} "
            f"| {r.runs} | {r.peak_rss_mib:.1f} | {r.rss_growth_mib:.1f} "
            f"| {'' if s is None else f'{s:.1f}x'} "
            f"| {c['unbilled_orders']} / {c['missing_billing_records']} / {c['failed_charges']} |"
        )
    return head + "\n".join(lines) + "\n"
