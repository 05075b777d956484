"""Parsing patients' answers the way people actually write them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.prompts.sets import Prompt
from bot.schedule.controls import parse_reminder_command

_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_KEYCAPS = {f"{d}\ufe0f\u20e3": str(d) for d in range(10)} | {"\U0001f51f": "10"}
# "7", "7/10", "7 out of 10", "6.5" (a decimal is kept as written and rounded later)
_NUMERIC = re.compile(r"(?<![\d.\-])(\d{1,3}(?:[.,]\d)?)(?:\s*(?:/|out\s+of)\s*10)?(?![\d])")
_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")

SKIP_WORDS = frozenset({"skip", "pass", "next", "skip it", "skip this", "skip this one", "rather not say"})


def parse_scale(text: str, low: int = 0, high: int = 10) -> int | None:
    """The single number on a low..high scale in `text`, or None if absent or ambiguous.

    "7", "seven", "7/10", "about a 6", "7️⃣" -> that number; "6.5" -> 7 (half rounds up);
    "6 or 7", "12" -> None (asked again with a hint rather than guessed).
    """
    if not text:
        return None
    s = text.strip().lower()
    for cap, digit in _KEYCAPS.items():
        s = s.replace(cap, f" {digit} ")
    values: set[int] = set()
    for m in _NUMERIC.finditer(s):
        raw = m.group(1).replace(",", ".")
        value = float(raw)
        values.add(int(value + 0.5))
    for m in _WORD.finditer(s):
        values.add(_NUMBER_WORDS[m.group(1)])
    if len(values) != 1:
        return None
    (value,) = values
    return value if low <= value <= high else None


def is_skip(text: str) -> bool:
    return text.strip().lower().rstrip(".!") in SKIP_WORDS


PAUSE_COMMANDS = frozenset(
    {
        "not now",
        "later",
        "maybe later",
        "pause",
        "another time",
        "not right now",
        "not today",
        "can we do this later",
        "can we do it later",
        "remind me later",
        "later please",
        "i'm busy",
        "im busy",
        "no time now",
        "pause please",
        "can we pause",
    }
)
STOP_COMMANDS = frozenset(
    {
        "stop",
        "stop it",
        "stop please",
        "please stop",
        "cancel",
        "quit",
        "exit",
        "end",
        "stop the check in",
        "stop the checkin",
        "stop check in",
        "stop checkin",
        "end the check in",
        "cancel the check in",
        "i want to stop",
        "can we stop",
        "let's stop",
        "lets stop",
        "let's stop here",
        "lets stop here",
        "stop here",
        "that's enough",
        "thats enough",
        "that's enough for now",
        "that's enough for today",
        "i'm done for now",
        "im done for now",
        "done for now",
        "done for today",
        "stop for today",
        "i'm done for today",
        "enough for today",
    }
)
BACK_COMMANDS = frozenset(
    {
        "go back",
        "back",
        "undo",
        "change my last answer",
        "that was wrong",
        "i made a mistake",
        "correct my last answer",
        "oops",
        "wait that's wrong",
        "wait thats wrong",
        "previous question",
        "can i change my last answer",
        "let me change that",
        "change that",
        "wrong answer",
    }
)


def _command_text(text: str) -> str:
    return " ".join(text.strip().lower().replace("-", " ").replace("\u2019", "'").rstrip(".!,").split())


def loop_command(text: str) -> str | None:
    """An explicit command inside a check-in: "pause", "stop" (for today) or "back" (correct the
    last answer). Deliberately literal: a journal line that merely mentions stopping ("I want to
    stop feeling like this") is an answer, not a command."""
    s = _command_text(text)
    if s in PAUSE_COMMANDS or parse_reminder_command(text) is not None:
        # "remind me in an hour", "stop reminders", "change my check-in time to 8pm": pause the
        # questions (answers kept); action_submit_prompt_set then changes the schedule.
        return "pause"
    if s in STOP_COMMANDS:
        return "stop"
    if s in BACK_COMMANDS:
        return "back"
    return None


def is_stop_command(text: str) -> bool:
    """Pausing or stopping (either ends the current run of questions)."""
    return loop_command(text) in ("pause", "stop")


@dataclass(frozen=True)
class Parsed:
    """One understood answer: a value, a text, or a skip; or why it was not understood."""

    value: float | None = None
    text: str | None = None
    skipped: bool = False
    error: str | None = None  # unparseable | empty | too_long | not_skippable

    @property
    def ok(self) -> bool:
        return self.error is None


_YES = frozenset({"yes", "y", "yeah", "yep", "yup", "sure", "i did", "i have", "true"})
_NO = frozenset({"no", "n", "nope", "nah", "not really", "i didn't", "i haven't", "false"})
_FIRST_NUMBER = re.compile(r"(?<![\d.\-])(\d{1,4}(?:[.,]\d+)?)")


def parse_answer(prompt: Prompt, text: str, *, max_chars: int) -> Parsed:
    """Understand `text` as an answer to `prompt` (see bot.prompts.sets for the types)."""
    raw = (text or "").strip()
    if is_skip(raw):
        return Parsed(skipped=True) if prompt.skippable else Parsed(error="not_skippable")
    if not raw:
        return Parsed(error="empty")
    if prompt.type == "text":
        if len(raw) > max_chars:
            return Parsed(error="too_long")
        return Parsed(text=raw)
    if prompt.type == "scale":
        value = parse_scale(raw, prompt.min, prompt.max)
        return Parsed(value=float(value)) if value is not None else Parsed(error="unparseable")
    if prompt.type == "number":
        m = _FIRST_NUMBER.search(raw.replace(",", "."))
        if m is None:
            word = parse_scale(raw, 0, 10)
            return Parsed(value=float(word)) if word is not None else Parsed(error="unparseable")
        return Parsed(value=float(m.group(1)))
    if prompt.type == "yes_no":
        s = raw.lower().rstrip(".!")
        if s in _YES:
            return Parsed(value=1.0)
        if s in _NO:
            return Parsed(value=0.0)
        return Parsed(error="unparseable")
    # choice: a button payload (the value), or the option's words
    s = raw.lower().rstrip(".!")
    values = {o.value for o in prompt.options}
    if s.isdigit() and int(s) in values:
        return Parsed(value=float(int(s)))
    matches = [o for o in prompt.options if o.label.lower() == s] or [
        o for o in prompt.options if o.label.lower() in s or s in o.label.lower()
    ]
    if len({o.value for o in matches}) == 1:
        return Parsed(value=float(matches[0].value))
    return Parsed(error="unparseable")
