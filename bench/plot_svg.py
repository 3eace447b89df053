"""A small SVG line chart with no plotting library (bench/limits.py's scale
curve, docs/scale.svg): panels side by side, each with its own series."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

W, H, PAD = 360, 240, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass(frozen=True)
class Panel:
    title: str
    x_label: str
    y_label: str
    series: dict[str, list[tuple[float, float]]]
    log_x: bool = False


def _scale(values: Sequence[float], lo_px: float, hi_px: float, log: bool
           ) -> tuple[float, float, Callable[[float], float]]:
    vals = [math.log10(v) if log else v for v in values]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if not log:
        lo = 0.0
    hi = hi if hi > lo else lo + 1.0

    def at(v: float) -> float:
        v = math.log10(v) if log else v
        return lo_px + (v - lo) / (hi - lo) * (hi_px - lo_px)

    return lo, hi, at


def panel_svg(p: Panel, dx: float) -> list[str]:
    xs = [x for pts in p.series.values() for x, _ in pts]
    ys = [y for pts in p.series.values() for _, y in pts]
    _, _, fx = _scale(xs, dx + PAD, dx + W - 12, p.log_x)
    _, y_hi, fy = _scale([*ys, max(ys or [1.0]) * 1.15], H - PAD, 24, False)
    at_x, at_y = fx, fy
    out = [f'<text x="{dx + W / 2}" y="16" text-anchor="middle" font-weight="bold">'
           f'{p.title}</text>',
           f'<line x1="{dx + PAD}" y1="{H - PAD}" x2="{dx + W - 12}" y2="{H - PAD}" '
           'stroke="black"/>',
           f'<line x1="{dx + PAD}" y1="{H - PAD}" x2="{dx + PAD}" y2="24" stroke="black"/>',
           f'<text x="{dx + W / 2}" y="{H - 8}" text-anchor="middle">{p.x_label}</text>',
           f'<text x="{dx + 12}" y="{H / 2}" transform="rotate(-90 {dx + 12} {H / 2})" '
           f'text-anchor="middle">{p.y_label}</text>']
    for x in sorted(set(xs)):
        px = at_x(x)
        out.append(f'<text x="{px:.1f}" y="{H - PAD + 14}" text-anchor="middle" '
                   f'font-size="10">{x:,.0f}</text>')
    for i in range(5):
        v = y_hi * i / 4
        out.append(f'<text x="{dx + PAD - 4}" y="{at_y(v):.1f}" text-anchor="end" '
                   f'font-size="10">{v:.2f}</text>')
    for n, (name, pts) in enumerate(p.series.items()):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{at_x(x):.1f},{at_y(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        out.append(f'<text x="{dx + PAD + 8}" y="{36 + 14 * n}" fill="{colour}" '
                   f'font-size="11">{name}</text>')
    return out


def svg(panels: Sequence[Panel]) -> str:
    body = [line for i, p in enumerate(panels) for line in panel_svg(p, i * W)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * len(panels)}" height="{H}" '
            'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" '
            'fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
