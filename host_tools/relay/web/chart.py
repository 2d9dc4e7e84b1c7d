"""A stacked bar chart as inline SVG, drawn on the server: the pages load
nothing from another host and run no script (the relay may have no
internet), and a chart of a few dozen bars needs no library.

Each bar is one day; its segments are the sites, in a fixed colour order.
Values are integers (minor units); `label` formats them for the axis.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

# Colour-blind-safe palette (Okabe & Ito), in the order sites are listed.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH, HEIGHT = 860, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 12, 12, 44


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    day: str
    value: int


def nice_step(top: int, ticks: int = 4) -> int:
    """A round axis step (1, 2 or 5 times a power of ten) so that `ticks`
    steps reach at least `top`."""
    if top <= 0:
        return 1
    raw = -(-top // ticks)
    power = 1
    while power * 10 <= raw:
        power *= 10
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power  # pragma: no cover - the loop always returns


def layout(days: list[str], series: list[str], values: dict[tuple[str, str], int],
           ticks: int = 4) -> tuple[list[Bar], int]:
    """The bars (positive values stacked per day) and the axis step."""
    totals = [sum(max(0, values.get((s, d), 0)) for s in series) for d in days]
    step = nice_step(max(totals, default=0), ticks)
    top = step * ticks
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    slot = plot_w / max(1, len(days))
    bar_w = max(2.0, min(48.0, slot * 0.7))
    bars: list[Bar] = []
    for i, day in enumerate(days):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        base = 0
        for s in series:
            v = max(0, values.get((s, day), 0))
            if v:
                h = plot_h * v / top
                y = _TOP + plot_h * (1 - (base + v) / top)
                bars.append(Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), s, day, v))
                base += v
    return bars, step


def svg(days: list[str], series: list[str], values: dict[tuple[str, str], int],
        label: Callable[[int], str], title: str, ticks: int = 4,
        axis: Callable[[int], str] | None = None) -> str:
    """The chart as an <svg> element (escaped, safe to insert into a page).
    `label` formats a bar's value, `axis` a tick (default: label)."""
    axis = axis or label
    bars, step = layout(days, series, values, ticks)
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    plot_h = HEIGHT - _TOP - _BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for k in range(ticks + 1):
        y = _TOP + plot_h * (1 - k / ticks)
        out.append(f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{"#9aa3ad" if k == 0 else "#e3e7eb"}" stroke-width="1"/>')
        out.append(f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
                   f'fill="#56606b">{escape(axis(k * step))}</text>')
    for b in bars:
        out.append(f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" fill="{colour[b.series]}">'
                   f'<title>{escape(b.series)} {escape(b.day)}: {escape(label(b.value))}</title></rect>')
    slot = (WIDTH - _LEFT - _RIGHT) / max(1, len(days))
    every = max(1, -(-len(days) * 64 // (WIDTH - _LEFT - _RIGHT)))  # keep day labels from overlapping
    for i, day in enumerate(days):
        if i % every == 0:
            x = _LEFT + i * slot + slot / 2
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - _BOTTOM + 18}" text-anchor="middle" font-size="12" '
                       f'fill="#56606b">{escape(day[5:] if len(days) > 1 else day)}</text>')
    out.append("</svg>")
    return "".join(out)


def legend(series: list[str]) -> list[tuple[str, str]]:
    """(series, colour) pairs for the page's legend."""
    return [(s, PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)]
