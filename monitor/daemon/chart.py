"""A check's values over time as an SVG image (served at /chart/NAME.svg and
shown by the page as a lazily loaded <img>: the browser parses and lays out
only the charts scrolled to; docs/benchmarks.md section 9): one line per
series, the band between each point's low and high, dashed warning and
critical lines, day ticks. No script and no style: every look is a
presentation attribute, which the strict CSP allows. Every text is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

W, H = 600, 140  # viewBox units
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 8, 18
MAX_SERIES = 6  # more lines than this is noise; the caption says how many were left out
DAY = 86_400
_FONT = 'font-family="system-ui, sans-serif" font-size="10"'
WARN, CRIT = "#9a6700", "#cf222e"
LOOK = {  # status.css's colours, as attributes (an <img> loads no stylesheet)
    "plot": 'fill="#fbfcfd" stroke="#d0d7de"',
    "tick": 'fill="none" stroke="#eaeef2"',
    "axis": f'{_FONT} fill="#57606a" text-anchor="middle"',
    "yl": f'{_FONT} fill="#57606a" text-anchor="end" dominant-baseline="middle"',
    "warning": f'fill="none" stroke="{WARN}" stroke-width="1.5" stroke-dasharray="6 4"',
    "critical": f'fill="none" stroke="{CRIT}" stroke-width="1.5" stroke-dasharray="2 3"',
    "band": 'fill="#0969da" fill-opacity=".12" stroke="none"',
    "line": 'fill="none" stroke-width="1.5" vector-effect="non-scaling-stroke"',
    "last": 'fill="none" stroke-width="6" stroke-linecap="round" '
            'vector-effect="non-scaling-stroke"',
}
LABEL = {"warning": WARN, "critical": CRIT}
COLOURS = ("#0969da", "#8250df", "#bf3989", "#1b7c83", "#953800", "#4d2d00")


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


def has_chart(series: Sequence[dict[str, Any]]) -> bool:
    """Whether there is anything to draw: values, or at least thresholds."""
    shown = series[:MAX_SERIES]
    return any(s["points"] for s in shown) or bool(_limits(shown))


def svg_chart(series: Sequence[dict[str, Any]], since: int, until: int, label: str) -> str:
    """The chart of `series` (status document points: [epoch, value, low,
    high]) between epochs `since` and `until`, as a standalone SVG document;
    `label` names it for screen readers. Empty when has_chart is false."""
    shown = list(series[:MAX_SERIES])
    limits = _limits(shown)
    ys = [v for s in shown for p in s["points"] for v in (p[2], p[3])]
    ys += [v for _, v in limits]
    if not ys:
        return ""
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

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" '
             f'width="{W}" height="{H}" role="img" aria-label="{escape(label)}" '
             f'preserveAspectRatio="none"><title>{escape(label)}</title>',
             f'<path class="plot" {LOOK["plot"]} d="M{LEFT} {TOP}h{pw}v{ph}h-{pw}z"/>']
    first_day = since - since % DAY + DAY
    days = range(first_day, until, DAY)
    if days:  # every day's tick in one path
        parts.append(f'<path class="tick" {LOOK["tick"]} d="' + "".join(
            f"M{x(t)} {TOP}v{ph}" for t in days) + '"/>')
    for t in days:
        day = datetime.fromtimestamp(t, UTC).strftime("%a %d")
        parts.append(f'<text class="axis" {LOOK["axis"]} x="{x(t)}" y="{H - 4}">{day}</text>')
    for text, v in ((_fmt(hi - pad), hi - pad), (_fmt(lo + pad), lo + pad)):
        parts.append(f'<text class="axis yl" {LOOK["yl"]} x="{LEFT - 4}" y="{y(v)}">'
                     f"{escape(text)}</text>")
    for level, v in limits:
        parts.append(f'<path class="limit {level}" {LOOK[level]} d="M{LEFT} {y(v)}h{pw}"/>'
                     f'<text class="axis lim {level}" {_FONT} font-weight="600" '
                     f'fill="{LABEL[level]}" text-anchor="end" '
                     f'dominant-baseline="text-after-edge" x="{LEFT + pw - 3}" y="{y(v)}">'
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
        colour = COLOURS[i]
        parts.append(f'<path class="band s{i}" {LOOK["band"]} d="{path(top + bottom[::-1])}z"/>'
                     f'<path class="line s{i}" {LOOK["line"]} stroke="{colour}" '
                     f'd="{path(line)}"><title>{name}</title></path>'
                     f'<path class="last s{i}" {LOOK["last"]} stroke="{colour}" '
                     f'd="M{line[-1][0]} {line[-1][1]}h0"/>')
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


def check_chart(doc: dict[str, Any], name: str,
                draw: Callable[[Sequence[dict[str, Any]], int, int, str], str] = svg_chart
                ) -> str | None:
    """The chart of check `name` in the status document; None: no such check
    or nothing to draw."""
    found = next((c for c in doc["checks"] if c["name"] == name), None)
    if found is None or not has_chart(found["series"]):
        return None
    since = int(datetime.fromisoformat(doc["window"]["since"].replace("Z", "+00:00"))
                .timestamp())
    until = since + 3600 * int(doc["window"]["points"])  # fixed for the hour: charts kept
    return draw(found["series"], since, until, f"{name}: values over 7 days")


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
