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


def speedup(rows: list[Row], row: Row, reference: str = "naive") -> float | None:
    """reference median / fast median for the same engine and size."""
    if row.impl != "fast":
        return None
    for other in rows:
        if (other.engine, other.orders, other.impl) == (row.engine, row.orders, reference):
            return other.median_s / row.median_s
    return None


def _x(s: float | None) -> str:
    return "" if s is None else f"{s:.1f}x"


def markdown(rows: list[Row]) -> str:
    article = any(r.impl == "article" for r in rows)
    head = (
        "| engine | orders | implementation | median wall (s) | min (s) | runs "
        "| peak RSS (MiB) | RSS growth (MiB) | speed-up | "
        + ("vs article | " if article else "")
        + "unbilled / missing / failed |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if article else "") + "---|\n"
    )
    lines = []
    for r in rows:
        c = r.counts
        extra = f"| {_x(speedup(rows, r, 'article'))} " if article else ""
        lines.append(
            f"| {r.engine} | {r.orders:,} | {r.impl} | {r.median_s:.3f} | {r.min_s:.3f} "
            f"| {r.runs} | {r.peak_rss_mib:.1f} | {r.rss_growth_mib:.1f} "
            f"| {_x(speedup(rows, r))} {extra}"
            f"| {c['unbilled_orders']} / {c['missing_billing_records']} / {c['failed_charges']} |"
        )
    return head + "\n".join(lines) + "\n"
