"""A check's values over time as inline SVG: one line per series, the band
between each point's low and high, dashed warning and critical lines, day
ticks. No script, no style attribute (the page's CSP allows the stylesheet
only): every look comes from a class in status.css. Every text is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

W, H = 600, 140  # viewBox units
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 8, 18
MAX_SERIES = 6  # more lines than this is noise; the caption says how many were left out
DAY = 86_400


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _limits(series: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for s in series:
        for level in ("warning", "critical"):
            v = s["thresholds"].get(level)
            if v is not None and (level, v) not in out:
                out.append((level, float(v)))
    return out


def svg_chart(series: Sequence[dict[str, Any]], since: int, until: int, label: str) -> str:
    """The chart of `series` (status document points: [epoch, value, low,
    high]) between epochs `since` and `until`; `label` names it for screen
    readers."""
    shown = list(series[:MAX_SERIES])
    limits = _limits(shown)
    ys = [v for s in shown for p in s["points"] for v in (p[2], p[3])]
    ys += [v for _, v in limits]
    if not ys:
        return '<p class="nodata">No values recorded in this window.</p>'
    lo, hi = min(ys), max(ys)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    span_x = max(until - since, 1)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> str:
        return f"{LEFT + (t - since) * pw / span_x:.1f}"

    def y(v: float) -> str:
        return f"{TOP + (hi - v) * ph / (hi - lo):.1f}"

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{escape(label)}" preserveAspectRatio="none">',
             f"<title>{escape(label)}</title>",
             f'<path class="plot" d="M{LEFT} {TOP}h{pw}v{ph}h-{pw}z"/>']
    first_day = since - since % DAY + DAY
    days = range(first_day, until, DAY)
    if days:  # every day's tick in one path
        parts.append('<path class="tick" d="' + "".join(
            f"M{x(t)} {TOP}v{ph}" for t in days) + '"/>')
    for t in days:
        day = datetime.fromtimestamp(t, UTC).strftime("%a %d")
        parts.append(f'<text class="axis" x="{x(t)}" y="{H - 4}">{day}</text>')
    for text, v in ((_fmt(hi - pad), hi - pad), (_fmt(lo + pad), lo + pad)):
        parts.append(f'<text class="axis yl" x="{LEFT - 4}" y="{y(v)}">{escape(text)}</text>')
    for level, v in limits:
        parts.append(f'<path class="limit {level}" d="M{LEFT} {y(v)}h{pw}"/>'
                     f'<text class="axis lim {level}" x="{LEFT + pw - 3}" y="{y(v)}">'
                     f"{level[:4]} {escape(_fmt(v))}</text>")
    sx, sy = pw / span_x, ph / (hi - lo)
    for i, s in enumerate(shown):
        pts = s["points"]
        if not pts:
            continue
        # Whole viewBox units (a 600-unit chart drawn 400-600 pixels wide):
        # points that fall on the same unit are drawn once.
        xs = [round(LEFT + (p[0] - since) * sx) for p in pts]
        line = [(a, round(TOP + (hi - p[1]) * sy)) for a, p in zip(xs, pts, strict=True)]
        top = [(a, round(TOP + (hi - p[3]) * sy)) for a, p in zip(xs, pts, strict=True)]
        bottom = [(a, round(TOP + (hi - p[2]) * sy)) for a, p in zip(xs, pts, strict=True)]
        name = escape(" ".join([s["metric"], *s["tags"]]))
        parts.append(f'<path class="band s{i}" d="{path(top + bottom[::-1])}z"/>'
                     f'<path class="line s{i}" d="{path(line)}"><title>{name}</title></path>'
                     f'<path class="last s{i}" d="M{line[-1][0]} {line[-1][1]}h0"/>')
    parts.append("</svg>")
    return "".join(parts)


def path(points: Sequence[tuple[int, int]]) -> str:
    """An SVG path through `points`: the first absolute, the rest relative
    (short numbers), a repeated point left out."""
    x0, y0 = points[0]
    if len(points) == 1:
        return f"M{x0} {y0}"
    out, px, py = [f"M{x0} {y0}l"], x0, y0
    for px2, py2 in points[1:]:
        if (px2, py2) != (px, py):
            out.append(f"{px2 - px} {py2 - py} ")
            px, py = px2, py2
    return "".join(out).rstrip()


class ChartCache:
    """The daemon's charts between refreshes: a chart is drawn again only when
    its series' last points or thresholds changed (a run of that check), or
    when the window moved on (each hour). Bounded: emptied with the window."""

    def __init__(self) -> None:
        self._window = (0, 0)
        self._svg: dict[tuple[Any, ...], str] = {}

    def svg(self, series: Sequence[dict[str, Any]], since: int, until: int, label: str) -> str:
        if self._window != (since, until):
            self._window, self._svg = (since, until), {}
        key = (label, *((s["metric"], tuple(s["tags"]), tuple(s["thresholds"].items()),
                         len(s["points"]), *map(tuple, s["points"][-2:])) for s in series))
        found = self._svg.get(key)
        if found is None:
            found = self._svg[key] = svg_chart(series, since, until, label)
        return found
