"""Server-rendered SVG charts for the portal's Trends page: no JavaScript, no chart library.

One small chart per measure: points joined by a line, severity bands shaded behind (PHQ-9 and
GAD-7 cut-offs from the clinical guide), dosing sessions as dashed vertical lines. The numbers
are always also shown as a table next to the chart, for screen readers and for exactness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

#: (lower bound, label, fill) per band, from the clinical guide (section 3).
PHQ9_BANDS = [
    (0, "minimal", "#e8f5e9"),
    (5, "mild", "#f1f8e9"),
    (10, "moderate", "#fff8e1"),
    (15, "moderately severe", "#fff3e0"),
    (20, "severe", "#fdecea"),
]
GAD7_BANDS = [
    (0, "minimal", "#e8f5e9"),
    (5, "mild", "#f1f8e9"),
    (10, "moderate", "#fff8e1"),
    (15, "severe", "#fdecea"),
]

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 200, 44, 12, 12, 28


@dataclass(frozen=True)
class Series:
    title: str
    points: list[tuple[datetime, float]]
    top: float
    bands: list[tuple[float, str, str]]


def chart(series: Series, sessions: list[datetime], chart_id: str) -> str:
    """An accessible SVG line chart (role=img, with a title and a one-line summary)."""
    points = series.points
    times = [t for t, _ in points] + sessions
    if not points:
        return f'<p class="muted">No {escape(series.title)} yet.</p>'
    start, end = min(times), max(times)
    if end - start < timedelta(days=1):
        start, end = start - timedelta(hours=12), end + timedelta(hours=12)
    span = (end - start).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return LEFT + plot_w * (t - start).total_seconds() / span

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / series.top)

    last = points[-1][1]
    summary = (
        f"{len(points)} values from {points[0][0]:%d %b %Y} to {points[-1][0]:%d %b %Y}; latest {last:g}"
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(series.title)}</title><desc id="{chart_id}-d">{escape(summary)}</desc>',
    ]
    for i, (low, label, fill) in enumerate(series.bands):
        high = series.bands[i + 1][0] if i + 1 < len(series.bands) else series.top
        parts.append(
            f'<rect x="{LEFT}" y="{y(high):.1f}" width="{plot_w}" height="{y(low) - y(high):.1f}" fill="{fill}">'
            f"<title>{escape(label)} ({low:g} to {high:g})</title></rect>"
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{y(low) - 3:.1f}" text-anchor="end" class="band">{escape(label)}</text>'
        )
    for tick in (0, series.top / 2, series.top):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">{tick:g}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" class="axis-line"/>'
    )
    for t in sessions:
        parts.append(
            f'<line x1="{x(t):.1f}" y1="{TOP}" x2="{x(t):.1f}" y2="{TOP + plot_h}" class="session"><title>Dosing session {t:%d %b %Y}</title></line>'
        )
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="axis">{start:%d %b}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - 8}" text-anchor="end" class="axis">{end:%d %b}</text>'
    )
    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts.append(f'<polyline points="{path}" class="line"/>')
    for t, v in points:
        parts.append(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5" class="point"><title>{t:%d %b %Y}: {v:g}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)
