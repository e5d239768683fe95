"""A small bar chart as server-rendered SVG: no script, no library, readable with JavaScript off."""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

__all__ = ["bar_chart"]


def bar_chart(counts: list[int], start: datetime, *, width: int = 480, height: int = 120, label: str = "") -> Markup:
    """An SVG of one bar per hour from ``start``; each bar has a <title> with its hour and count."""
    top = max(counts, default=0) or 1
    slot = width / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        bar = round((height - 32) * count / top, 1)  # 16 px above for the scale, 16 below for the axis
        hour = (start + timedelta(hours=index)).strftime("%H:00")
        bars.append(f'<rect x="{index * slot + 1:.1f}" y="{height - 16 - bar:.1f}" width="{slot - 2:.1f}" '
                    f'height="{bar:.1f}" class="bar"><title>{hour} UTC: {count}</title></rect>')
    axis = (f'<line x1="0" y1="{height - 16}" x2="{width}" y2="{height - 16}" class="axis-line"/>'
            f'<text x="0" y="{height - 2}" class="axis">{start.strftime("%H:00")} UTC</text>'
            f'<text x="{width}" y="{height - 2}" class="axis" text-anchor="end">now</text>'
            f'<text x="{width}" y="10" class="axis" text-anchor="end">max {top}</text>')
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
                  f'height="{height}" role="img" aria-label="{escape(label)}">{"".join(bars)}{axis}</svg>')
