"""What a patient can say about reminders, read literally: "remind me in an hour", "not today",
"stop reminders", "turn reminders back on", "change my check-in time to 8pm".

Used inside a check-in (where it pauses the questions, answers kept) and outside one (after
the classifier picked the `manage_reminders` intent). Literal on purpose: a journal line that
merely mentions reminders must not change the schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta

from bot.schedule.plan import PlanError, parse_hhmm

_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "a couple of": 2, "couple of": 2}
_UNIT = {"minute": 1, "min": 1, "hour": 60, "hr": 60}
_RESUME = re.compile(
    r"\b(turn|switch|put)\s+(the\s+|my\s+)?reminders?\s+(back\s+)?on\b"
    r"|\b(resume|restart|start|unpause|unmute)\s+(the\s+|my\s+)?reminders?\b"
    r"|\breminders?\s+(back\s+)?on\b"
)
_STOP = re.compile(
    r"\b(stop|pause|turn\s+off|switch\s+off|mute|disable|no\s+more|don'?t\s+send(\s+me)?)\s+"
    r"(sending\s+(me\s+)?)?(the\s+|my\s+|any\s+|all\s+)?(reminders?|notifications?|check[\s-]?in\s+reminders?)\b"
)
_NOT_TODAY = re.compile(r"^(not\s+today|skip\s+today('?s)?(\s+check[\s-]?in)?|no\s+check[\s-]?ins?\s+today)$")
_LATER = re.compile(
    r"\b(remind|ask|message|ping)\s+me\s+(again\s+)?(in|after)\s+"
    r"(?P<n>\d+|an?|one|two|three|four|(a\s+)?couple\s+of|half\s+an)\s+(?P<unit>minute|min|hour|hr)s?\b"
)
_TIME = re.compile(
    r"\b(check[\s-]?ins?|reminders?|remind\s+me|message\s+me|ask\s+me)\b.*?\b(at|to|for|around)\s+"
    r"(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?)(?![\d:])"
)
_DAILY = re.compile(r"\b(every\s*day|daily|each\s+day|every\s+evening|every\s+morning|every\s+night)\b")
#: "remind me later" without a time: an hour.
DEFAULT_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class ReminderCommand:
    kind: str  # postpone | skip_today | stop | resume | set_time
    delay: timedelta | None = None
    at: time | None = None
    daily: bool | None = None


def _text(text: str) -> str:
    return " ".join(text.strip().lower().replace("\u2019", "'").rstrip(".!?,").split())


def parse_reminder_command(text: str) -> ReminderCommand | None:
    """The reminder command in `text`, or None if it is not one."""
    s = _text(text)
    if not s or len(s) > 120:  # a long entry is an entry, not a command
        return None
    if _RESUME.search(s):
        return ReminderCommand("resume")
    if _STOP.search(s):
        return ReminderCommand("stop")
    if _NOT_TODAY.match(s):
        return ReminderCommand("skip_today")
    m = _TIME.search(s)
    if m:
        try:
            at = parse_hhmm(m.group("t").replace(".", ""), "time")
        except PlanError:
            at = None
        if at is not None:
            return ReminderCommand("set_time", at=at, daily=True if _DAILY.search(s) else None)
    m = _LATER.search(s)
    if m:
        n_text = m.group("n")
        if n_text == "half an":
            minutes = 30
        else:
            n = int(n_text) if n_text.isdigit() else _NUMBERS.get(n_text.replace("  ", " "), 1)
            minutes = n * _UNIT[m.group("unit")]
        return ReminderCommand("postpone", delay=timedelta(minutes=max(5, min(minutes, 12 * 60))))
    if s in ("remind me later", "remind me in a bit", "ask me later", "check in with me later"):
        return ReminderCommand("postpone", delay=DEFAULT_DELAY)
    return None
