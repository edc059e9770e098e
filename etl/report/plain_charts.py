"""Bar and step charts written as SVG by hand: the status page without matplotlib.

matplotlib is an optional extra (``pip install almamirror[charts]``): about 170 MB of compiled
plotting stack for a handful of bar charts. Without it the page draws these: the same data, the same
element ids (``bar-<series>-<category>``, ``line-restorable``), a ``viewBox`` so that they scale, text
kept as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

WIDTH, HEIGHT = 640.0, 300.0
LEFT, RIGHT, TOP, BOTTOM = 48.0, 12.0, 12.0, 56.0
FONT = 'font-family="sans-serif" font-size="10"'


def bar_svg(
    prefix: str, categories: Sequence[str], counts: Mapping[str, Sequence[int]], colours: Mapping[str, str],
    default_colour: str,
) -> str:
    """Stacked vertical bars, one stack per category, a legend when there is more than one series."""
    stacks = [sum(values[i] for values in counts.values()) for i in range(len(categories))]
    top = max(stacks, default=0) or 1
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(categories), 1)
    parts = _axes(top, plot_height)
    for index, category in enumerate(categories):
        base = 0
        x = LEFT + index * slot + slot * 0.15
        for name, values in counts.items():
            value = values[index]
            y = TOP + plot_height * (1 - (base + value) / top)
            parts.append(
                f'<rect id="{prefix}-{_gid("bar", name, category)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{plot_height * value / top:.1f}" '
                f'fill="{colours.get(name, default_colour)}"><title>{html.escape(category)}: '
                f"{html.escape(name)} {value:,}</title></rect>"
            )
            base += value
        label_x, label_y = x + slot * 0.35, TOP + plot_height + 12
        parts.append(
            f'<text x="{label_x:.1f}" y="{label_y:.1f}" {FONT} text-anchor="end" '
            f'transform="rotate(-40 {label_x:.1f} {label_y:.1f})">{html.escape(category)}</text>'
        )
    if len(counts) > 1:
        for row, name in enumerate(counts):
            y = TOP + 4 + row * 14
            parts.append(f'<rect x="{WIDTH - 200:.0f}" y="{y:.0f}" width="10" height="10" '
                         f'fill="{colours.get(name, default_colour)}"/>'
                         f'<text x="{WIDTH - 186:.0f}" y="{y + 9:.0f}" {FONT}>{html.escape(name)}</text>')
    return _svg(parts)


def step_svg(prefix: str, points: Sequence[tuple[datetime, int]], colour: str) -> str:
    """A step line rising at each moment, from zero, with the first and last dates on the axis."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max((count for _, count in points), default=0) or 1
    parts = _axes(top, plot_height)
    if points:
        first, last = points[0][0].timestamp(), points[-1][0].timestamp()
        span = (last - first) or 1.0

        def x_of(moment: datetime) -> float:
            return LEFT + plot_width * 0.05 + plot_width * 0.9 * (moment.timestamp() - first) / span

        def y_of(count: int) -> float:
            return TOP + plot_height * (1 - count / top)

        path = [f"M {LEFT:.1f} {y_of(0):.1f}"]
        previous = 0
        for moment, count in points:
            path += [f"L {x_of(moment):.1f} {y_of(previous):.1f}", f"L {x_of(moment):.1f} {y_of(count):.1f}"]
            previous = count
        path.append(f"L {LEFT + plot_width:.1f} {y_of(previous):.1f}")
        parts.append(f'<g id="{prefix}-line-restorable"><path d="{" ".join(path)}" fill="none" '
                     f'stroke="{colour}" stroke-width="1.5"/></g>')
        for moment, anchor in ((points[0][0], "start"), (points[-1][0], "end")):
            parts.append(f'<text x="{x_of(moment):.1f}" y="{TOP + plot_height + 14:.1f}" {FONT} '
                         f'text-anchor="{anchor}">{moment:%Y-%m-%d}</text>')
    return _svg(parts)


def _axes(top: int, plot_height: float) -> list[str]:
    bottom = TOP + plot_height
    return [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#667"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#667"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" {FONT} text-anchor="end">{top:,}</text>',
        f'<text x="{LEFT - 4}" y="{bottom}" {FONT} text-anchor="end">0</text>',
    ]


def _svg(parts: Sequence[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" '
            f'role="img">{"".join(parts)}</svg>')


def _gid(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", part) for part in parts)
