"""Server-rendered SVG charts for the portal's Trends page: no JavaScript, no chart library.

One chart per measure, as wide as its card (x in per cent, y in pixels, so labels keep their
size on a phone): one point per answer joined in time order, severity bands shaded behind
(PHQ-9 and GAD-7 cut-offs from the clinical guide), dosing sessions as dashed vertical lines,
a time axis of whole days (at least a week) in the patient's time zone. The numbers
are always also shown as a table next to the chart, for screen readers and for exactness.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

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

HEIGHT, TOP, BOTTOM = 236, 22, 42  # px: the chart is as wide as its card, a fixed height
LEFT, RIGHT = 3.0, 97.0  # per cent of the width: x is in per cent, so text never scales
MIN_GAP = 1.6  # per cent: answers closer than this are drawn side by side (exact times in titles)
MIN_SPAN = timedelta(days=7)


@dataclass(frozen=True)
class Series:
    title: str
    points: list[tuple[datetime, float]]
    top: float
    bands: list[tuple[float, str, str]]
    #: Indexes of points to mark (PHQ-9 item 9 above 0), with what the mark means.
    marks: tuple[int, ...] = ()
    mark_label: str = ""


@dataclass(frozen=True)
class Axis:
    start: datetime
    end: datetime
    ticks: list[tuple[datetime, str]]


def _midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=zone)


def time_axis(times: list[datetime], tz: str = "UTC") -> Axis:
    """Whole days in the patient's time zone, at least a week (ending with the last day that has
    something), ticked daily up to about two weeks, weekly (Mondays) up to four months, else on
    the 1st of each month. Labels are short ("29 Nov", "30", "1 Dec") so a phone fits a week."""
    zone = ZoneInfo(tz)
    local = [t.astimezone(zone) for t in times]
    first, last = min(local).date(), max(local).date()
    end = _midnight(last + timedelta(days=1), zone)
    start = min(_midnight(first, zone), _midnight(last + timedelta(days=1) - MIN_SPAN, zone))
    days = (end.date() - start.date()).days
    if days <= 16:
        tick_days = [start.date() + timedelta(days=i) for i in range(days)]
    elif days <= 120:
        tick_days = [
            start.date() + timedelta(days=i)
            for i in range(days)
            if (start.date() + timedelta(days=i)).weekday() == 0
        ]
    else:
        tick_days = [
            start.date() + timedelta(days=i)
            for i in range(days)
            if (start.date() + timedelta(days=i)).day == 1
        ]
    ticks, month = [], None
    for d in tick_days:
        label = f"{d.day} {d:%b}" if (d.month, d.year) != month or days > 16 else str(d.day)
        month = (d.month, d.year)
        ticks.append((_midnight(d, zone), label))
    return Axis(start, end, ticks)


def spread(xs: list[float], gap: float = MIN_GAP, low: float = LEFT, high: float = RIGHT) -> list[float]:
    """x positions (per cent, in time order) moved apart just enough that every answer is its
    own point: two answers on one day are two points, never one vertical stroke."""
    out: list[float] = []
    for x in xs:
        out.append(max(x, out[-1] + gap) if out else x)
    overflow = out[-1] - high if out else 0.0
    if overflow > 0:  # pushed past the right edge: shift the crowded tail back left
        for i in range(len(out) - 1, -1, -1):
            limit = out[i + 1] - gap if i + 1 < len(out) else high
            out[i] = max(low, min(out[i], limit))
    return out


def chart(series: Series, sessions: list[datetime], chart_id: str, tz: str = "UTC") -> str:
    """An accessible SVG chart (role=img, with a title and a one-line summary): one point per
    answer, joined in time order, with dosing sessions as dashed lines labelled "dose"."""
    points = series.points
    if not points:
        return f'<p class="muted">No {escape(series.title)} yet.</p>'
    zone = ZoneInfo(tz)
    axis = time_axis([t for t, _ in points] + list(sessions), tz)
    span = (axis.end - axis.start).total_seconds()
    plot_h = HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return LEFT + (RIGHT - LEFT) * (t - axis.start).total_seconds() / span

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / series.top)

    last = points[-1][1]
    summary = (
        f"{len(points)} values from {points[0][0].astimezone(zone):%d %b %Y} to "
        f"{points[-1][0].astimezone(zone):%d %b %Y}; latest {last:g}"
    )
    if series.marks:
        summary += f"; {len(series.marks)} marked: {series.mark_label}"
    width = RIGHT - LEFT
    parts = [
        f'<svg class="chart" width="100%" height="{HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(series.title)}</title><desc id="{chart_id}-d">{escape(summary)}</desc>',
    ]
    for i, (low, label, fill) in enumerate(series.bands):
        high = series.bands[i + 1][0] if i + 1 < len(series.bands) else series.top
        parts.append(
            f'<rect x="{LEFT}%" y="{y(high):.1f}" width="{width}%" height="{y(low) - y(high):.1f}" fill="{fill}">'
            f"<title>{escape(label)} ({low:g} to {high:g})</title></rect>"
        )
        parts.append(
            f'<text x="{RIGHT}%" dx="-4" y="{y(low) - 3:.1f}" text-anchor="end" class="band">{escape(label)}</text>'
        )
    for tick in (0, series.top // 2, series.top):  # whole numbers: scores are
        parts.append(
            f'<line x1="{LEFT}%" x2="{RIGHT}%" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
            f'<text x="{LEFT}%" dx="3" y="{y(tick) - 3:.1f}" class="axis">{tick:g}</text>'
        )
    base = TOP + plot_h
    for at, label in axis.ticks:
        day, *month = label.split(" ", 1)  # the month under the day: a phone fits a week
        parts.append(
            f'<line x1="{x(at):.2f}%" x2="{x(at):.2f}%" y1="{base}" y2="{base + 5}" class="axis-line"/>'
            f'<text x="{x(at):.2f}%" dx="2" y="{base + 17}" class="axis">{escape(day)}'
            + (f'<tspan x="{x(at):.2f}%" dx="2" dy="13">{escape(month[0])}</tspan>' if month else "")
            + "</text>"
        )
    parts.append(f'<line x1="{LEFT}%" y1="{base}" x2="{RIGHT}%" y2="{base}" class="axis-line"/>')
    for t in sessions:
        parts.append(
            f'<line x1="{x(t):.2f}%" y1="{TOP}" x2="{x(t):.2f}%" y2="{base}" class="session">'
            f"<title>Dosing session {t.astimezone(zone):%a %d %b %Y, %H:%M}</title></line>"
            f'<text x="{x(t):.2f}%" y="{TOP - 6}" text-anchor="middle" class="session-label">dose</text>'
        )
    xs = spread([x(t) for t, _ in points])
    for (xa, (_, va)), (xb, (_, vb)) in itertools.pairwise(zip(xs, points, strict=True)):
        parts.append(f'<line x1="{xa:.2f}%" y1="{y(va):.1f}" x2="{xb:.2f}%" y2="{y(vb):.1f}" class="line"/>')
    for i, (px, (t, v)) in enumerate(zip(xs, points, strict=True)):
        when = f"{t.astimezone(zone):%a %d %b %Y, %H:%M}: {v:g}"
        if i in series.marks:
            parts.append(
                f'<circle cx="{px:.2f}%" cy="{y(v):.1f}" r="8" class="mark-ring"/>'
                f'<text x="{px:.2f}%" y="{y(v) - 11:.1f}" text-anchor="middle" class="mark">!</text>'
            )
            when += f" ({series.mark_label})"
        parts.append(
            f'<circle cx="{px:.2f}%" cy="{y(v):.1f}" r="4" class="point"><title>{escape(when)}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)
