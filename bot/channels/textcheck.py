"""What every patient channel does with inbound text before any heavy work (no Rasa imports).

- Invalid text is made valid, never refused for its bytes alone: surrogate pairs are joined,
  lone surrogates (which cannot be encoded, so would fail deep inside Rasa or the store) become
  U+FFFD, and control characters other than tab and newline are removed.
- The length caps come first. Nothing past HARD_CAP characters is ever looked at; text past
  MAX_TEXT_CHARS is risk-assessed (the safety floor: limits never drop risky words) and then
  either refused with a clear reply, or, if risky, handed on as the risky passages only, so the
  NLU pipeline never runs on a huge text.
- The risk assessment of longer texts runs window by window, yielding to the event loop
  between windows, with a time bound, so one long message never holds the loop that answers
  every other patient. If the bound passes, the text counts as risky: a slow detector must
  never cost crisis resources.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

from bot.safety.assessment import Assessment, at_least, rank
from bot.safety.service import assess_in_request
from bot.store.errors import MAX_TEXT_CHARS

#: Nothing beyond this many characters is ever read (the rest is dropped before any work).
HARD_CAP = 100_000
#: Texts up to this length are assessed inline (well under a millisecond per 100 characters).
INLINE_CHARS = 2_000
#: Longer texts are assessed in windows of this size, overlapping by WINDOW_OVERLAP.
WINDOW_CHARS = 2_000
WINDOW_OVERLAP = 400
#: Time bound for assessing one long text.
ASSESS_SECONDS = 15.0
#: Characters kept either side of each risky passage of an over-long text.
CONTEXT_CHARS = 300
#: At most this much of an over-long risky text is handed on to the assistant.
CONDENSED_CHARS = 4_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def normalise(text: str) -> str:
    """Text every later step can encode and store: see the module docstring."""
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True)
class Inbound:
    """The verdict on one inbound text."""

    text: str  # what to hand on: normalised, and condensed if it was too long but risky
    risky: bool  # reaches the safety threshold
    refused: str | None = None  # "not_text" | "too_long": say so instead of handing it on
    condensed: bool = False
    risk: dict | None = None  # the assessment (no spans), when risky


def condense(text: str, assessment: Assessment, limit: int = CONDENSED_CHARS) -> str:
    """The risky passages of a long text with some context, joined by " … ", at most `limit`."""
    spans: list[tuple[int, int]] = []
    for hit in sorted(assessment.rules, key=lambda h: h.start):
        start, end = max(0, hit.start - CONTEXT_CHARS), min(len(text), hit.end + CONTEXT_CHARS)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    if not spans:
        return text[:limit]
    return " … ".join(text[a:b].strip() for a, b in spans)[:limit]


def assess(text: str) -> Assessment:
    return assess_in_request(text)


def _merge(parts: list[tuple[int, Assessment]]) -> Assessment:
    """One assessment from overlapping windows: the worst severity, every hit at its offset."""
    merged = Assessment()
    seen: set[tuple[str, int, int]] = set()
    for offset, part in parts:
        if rank(part.severity) > rank(merged.severity):
            merged.severity = part.severity
        merged.categories += [c for c in part.categories if c not in merged.categories]
        for hit in part.rules:
            moved = replace(hit, start=hit.start + offset, end=hit.end + offset)
            if (moved.rule, moved.start, moved.end) not in seen:
                seen.add((moved.rule, moved.start, moved.end))
                merged.rules.append(moved)
        merged.lowering += part.lowering
    return merged


async def assess_long(text: str) -> Assessment:
    """Assess a long text window by window, letting the event loop run between windows.

    A worker thread would not help: the detector's regular expressions hold the GIL for a
    whole pass over the text, so the loop still stalls. Windows overlap by WINDOW_OVERLAP so a
    phrase on a boundary is seen whole; a window may miss a lowering cue from outside it, which
    can only raise a severity, never lower one."""
    parts = []
    step = WINDOW_CHARS - WINDOW_OVERLAP
    for start in range(0, max(1, len(text) - WINDOW_OVERLAP), step):
        parts.append((start, assess(text[start : start + WINDOW_CHARS])))
        await asyncio.sleep(0)  # other patients' turns go on between windows
    return _merge(parts)


async def assess_bounded(text: str, timeout: float | None = None) -> Assessment | None:
    """Assess without holding the event loop for long; None if it did not finish in time."""
    if len(text) <= INLINE_CHARS:
        return assess(text)
    try:
        return await asyncio.wait_for(assess_long(text), timeout or ASSESS_SECONDS)
    except TimeoutError:
        return None


async def check(raw: object, threshold: str, *, limit: int = MAX_TEXT_CHARS) -> Inbound:
    """Normalise, cap and risk-assess one inbound text (see the module docstring)."""
    if not isinstance(raw, str):
        return Inbound("", False, "not_text")
    text = normalise(raw[:HARD_CAP])
    if not text.strip():
        return Inbound(text, False, "not_text")
    assessment = await assess_bounded(text)
    risky = assessment is None or at_least(assessment.severity, threshold)
    risk = None
    if risky:
        risk = assessment.to_dict(include_spans=False) if assessment is not None else {"severity": "high"}
    if len(raw) <= limit:
        return Inbound(text, risky, risk=risk)
    if not risky:
        return Inbound(text[:limit], False, "too_long")
    short = condense(text, assessment) if assessment is not None else text[:CONDENSED_CHARS]
    return Inbound(short, True, condensed=True, risk=risk)
