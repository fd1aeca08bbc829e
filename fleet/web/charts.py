"""Availability charts as inline SVG, rendered on the server (no script, no external asset).

Availability lives near 100%, so the value axis starts at a round floor below the lowest figure and
the target (98%) is drawn as a dashed line; the floor is written on the axis. Every bar is a
``rect.bar`` (``.below`` when under target) wrapped in a link to the terminal's page; every point of a
line chart is a ``circle.point``. Each carries a ``<title>`` (the browser's tooltip) with the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.web.html import Markup, el, esc, pct

HEIGHT = 260
TOP, BOTTOM, LEFT, RIGHT = 16, 70, 52, 80
#: narrowest plot area: a fleet of three still gets a readable chart
MIN_PLOT = 420


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    href: str | None = None


def floor_of(values: Sequence[float], target: float) -> float:
    """The axis' lower bound: a multiple of 5% at least 2.5 points below the lowest figure and the target."""
    low = min([*values, target])
    return max(0.0, math.floor((low - 0.025) * 20) / 20)


def _y(v: float, lo: float) -> float:
    plot = HEIGHT - TOP - BOTTOM
    return TOP + plot * (1 - (max(v, lo) - lo) / (1 - lo if lo < 1 else 1))


def _frame(width: float, lo: float, target: float, title: str) -> list[str]:
    parts = [f'<title>{esc(title)}</title>']
    for tick in (lo, lo + (1 - lo) / 2, 1.0):
        y = _y(tick, lo)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(pct(tick, 1))}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{width - RIGHT}" y1="{HEIGHT - BOTTOM}" '
                 f'y2="{HEIGHT - BOTTOM}"/>')
    ty = _y(target, lo)
    parts.append(f'<line class="target" x1="{LEFT}" x2="{width - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
    parts.append(f'<text class="target-label" x="{width - RIGHT + 6}" y="{ty + 4:.1f}">target {esc(pct(target, 0))}'
                 '</text>')
    return parts


def _label(x: float, text: str) -> str:
    short = text if len(text) <= 16 else text[:15] + "\u2026"
    y = HEIGHT - BOTTOM + 12
    return (f'<text x="{x:.1f}" y="{y}" text-anchor="end" transform="rotate(-40 {x:.1f} {y})">'
            f'{esc(short)}</text>')


def bar_chart(bars: Sequence[Bar], target: float, title: str) -> Markup:
    """One bar per item, in the order given."""
    if not bars:
        return el("p", "No availability figures yet.", class_="muted")
    step = max(14.0, min(48.0, 900.0 / len(bars)), MIN_PLOT / len(bars))
    bar_w = min(step * 0.7, 36.0)
    width = LEFT + RIGHT + step * len(bars)
    lo = floor_of([b.value for b in bars], target)
    parts = _frame(width, lo, target, title)
    base = HEIGHT - BOTTOM
    for i, b in enumerate(bars):
        x = LEFT + i * step + (step - bar_w) / 2
        y = _y(b.value, lo)
        cls = "bar below" if b.value < target else "bar"
        rect = (f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{base - y:.1f}" '
                f'data-value="{b.value:.6f}"><title>{esc(b.label)}: {esc(pct(b.value))}</title></rect>')
        parts.append(f'<a href="{esc(b.href)}">{rect}</a>' if b.href else rect)
        parts.append(_label(x + bar_w / 2 + 4, b.label))
    return Markup(f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" '
                  f'height="{HEIGHT}" viewBox="0 0 {width:.0f} {HEIGHT}">{"".join(parts)}</svg>')


def line_chart(points: Sequence[tuple[str, float | None]], target: float, title: str) -> Markup:
    """A point per (label, value) with a value; the line joins consecutive known points."""
    known = [v for _, v in points if v is not None]
    if not known:
        return el("p", "No availability figures yet.", class_="muted")
    step = max(18.0, min(60.0, 900.0 / len(points)), MIN_PLOT / len(points))
    width = LEFT + RIGHT + step * len(points)
    lo = floor_of(known, target)
    parts = _frame(width, lo, target, title)
    run: list[str] = []
    runs: list[list[str]] = [run]
    dots = []
    for i, (label, v) in enumerate(points):
        x = LEFT + step * (i + 0.5)
        parts.append(_label(x + 4, label))
        if v is None:
            run = []
            runs.append(run)
            continue
        y = _y(v, lo)
        run.append(f"{x:.1f},{y:.1f}")
        cls = "point below" if v < target else "point"
        dots.append(f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="4" data-value="{v:.6f}">'
                    f'<title>{esc(label)}: {esc(pct(v))}</title></circle>')
    parts += [f'<polyline class="line" points="{" ".join(r)}"/>' for r in runs if len(r) > 1]
    parts += dots
    return Markup(f'<svg class="chart line" xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" '
                  f'height="{HEIGHT}" viewBox="0 0 {width:.0f} {HEIGHT}">{"".join(parts)}</svg>')
