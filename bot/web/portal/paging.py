"""The transcript, one day per page (pure: the portal's view pages what the store returns)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class TranscriptPage:
    day: date | None  # the day shown (patient's time zone); None when there are no messages
    messages: list[dict[str, Any]]  # that day's messages, in the order they were said
    days: list[date]  # every day with messages, newest first
    newer: date | None
    older: date | None


def transcript_page(
    messages: Sequence[Mapping[str, Any]],
    tz: str,
    day: date | None = None,
    message_id: str | None = None,
) -> TranscriptPage:
    """One day of the transcript: the day holding `message_id` if given and found, else `day`
    if it has messages, else the newest day. Days run newest first; within a day, messages stay
    in the order they were said (a conversation reads top to bottom)."""
    zone = ZoneInfo(tz)
    by_day: dict[date, list[dict[str, Any]]] = {}
    current: date | None = None
    for m in messages:
        at = m.get("at")
        if isinstance(at, datetime):
            current = at.astimezone(zone).date()
        if current is None:  # undated messages before the first dated one
            current = date.min
        by_day.setdefault(current, []).append(dict(m))
    days = sorted(by_day, reverse=True)
    if not days:
        return TranscriptPage(None, [], [], None, None)
    chosen = days[0]
    if message_id:
        chosen = next((d for d in days if any(m.get("id") == message_id for m in by_day[d])), None) or (
            day if day in by_day else days[0]
        )
    elif day in by_day:
        chosen = day
    i = days.index(chosen)
    return TranscriptPage(
        chosen,
        by_day[chosen],
        days,
        days[i - 1] if i > 0 else None,
        days[i + 1] if i + 1 < len(days) else None,
    )
