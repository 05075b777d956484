"""Risk across turns: a message read together with the patient's recent messages.

"I thought about how I'd do it" says nothing risky alone; after "I keep wishing I was dead" it
is a method (C-SSRS question 3). The adapters (the safety policy, the safety action) read the
last few user messages from the tracker and call `assess_in_context`; this module decides.
A method after ideation is high; a plan, intent, a time or means after ideation is critical
(clinical guide, section 4: "method, intent, plan, or behaviour within 3 months -> high/critical").
Screener answers are answers, not new messages: the adapters leave them out of the turns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.safety.assessment import at_least, rank

#: How far back earlier messages count: the last few, within the hour.
MAX_TURNS = 5
WINDOW = timedelta(hours=1)
#: Earlier messages that make a later method, plan, time or means risky.
IDEATION_CATEGORIES = frozenset({"suicide", "self_harm"})

_IT = r"(?:it|this|that|myself|me)"
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MEANS = r"(?:pills|tablets|meds|rope|gun|knife|blades?|razor|troches?)"
#: (kind, severity, pattern) on the normalised text; the first match of the highest severity wins.
CUES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (kind, severity, re.compile(pattern))
    for kind, severity, pattern in (
        # A plan or a decision about when/where.
        (
            "plan",
            "critical",
            r"\b(?:made|have|got|had|worked out|figured out|came up with) (?:a |the )?plan\b",
        ),
        ("plan", "critical", r"\bworked out (?:when|where|how)\b|\bwhen and where\b|\bwhere and when\b"),
        (
            "plan",
            "critical",
            rf"\b(?:decided|going|gonna|planning|plan|ready) to (?:do|go through with|end) {_IT}\b",
        ),
        ("plan", "critical", r"\b(?:set|picked|chosen|chose) (?:a |the )?(?:date|day|time|place)\b"),
        ("plan", "critical", r"\b(?:wrote|written|writing) (?:a |the |my )?(?:note|letter|goodbye)"),
        (
            "timing",
            "critical",
            rf"\bdo {_IT} (?:tonight|today|tomorrow|this weekend|soon|on {_DAY})\b",
        ),
        (
            "timing",
            "critical",
            r"^(?:maybe |probably )?(?:tonight|today|tomorrow|this weekend|right now|soon)\b",
        ),
        # Means at hand.
        (
            "means",
            "critical",
            r"\b(?:have|got|bought|saved|saving|stockpiled|stockpiling|collected|collecting|hoarding|kept)"
            rf"(?: up)? (?:the |some |enough |my |a )?{_MEANS}\b",
        ),
        (
            "intent",
            "critical",
            rf"\b(?:i will|i'm going to|im going to|i am going to|gonna) (?:do|go through with) {_IT}\b",
        ),
        # A method.
        (
            "method",
            "high",
            rf"\bhow (?:i'd|i would|i could|i might|i'll|i will|to) (?:do {_IT}|end {_IT}|go about {_IT})",
        ),
        ("method", "high", r"\b(?:looked up|searched|googled|read about|researched) (?:how|ways|methods?)\b"),
        ("method", "high", r"\b(?:ways|methods?) (?:to|of) (?:do it|doing it|end it|ending it)\b"),
    )
)


@dataclass(frozen=True)
class Turn:
    """One earlier user message, as the adapters read it from the tracker."""

    message_id: str | None
    risk: dict[str, Any]
    seconds_ago: float


def cue(text: str) -> tuple[str, str] | None:
    """(kind, severity) of the strongest follow-up cue in a message, if any."""
    norm = unicodedata.normalize("NFKC", text or "").lower()
    norm = re.sub(r"[\u2018\u2019`]", "'", norm)
    norm = re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]+", " ", norm)).strip()
    best: tuple[str, str] | None = None
    for kind, severity, pattern in CUES:
        if pattern.search(norm) and (best is None or rank(severity) > rank(best[1])):
            best = (kind, severity)
    return best


def _ideation(turn: Turn) -> bool:
    risk = turn.risk or {}
    return at_least(str(risk.get("severity") or "none"), "low") and bool(
        IDEATION_CATEGORIES.intersection(risk.get("categories") or [])
    )


def assess_in_context(text: str, risk: dict[str, Any], earlier: Sequence[Turn]) -> dict[str, Any]:
    """The message's assessment, raised when it follows recent ideation with a method, plan,
    intent, time or means. Returns the same dict shape with a "context" entry naming the earlier
    message it built on (never lowers, never removes what the detector found)."""
    recent = [t for t in earlier if t.seconds_ago <= WINDOW.total_seconds()][-MAX_TURNS:]
    base = next((t for t in reversed(recent) if _ideation(t)), None)
    if base is None:
        return risk
    found = cue(text)
    if found is None:
        return risk
    kind, severity = found
    current = str(risk.get("severity") or "none")
    if not at_least(severity, current) or (severity == current and risk.get("context")):
        return risk
    categories = list(dict.fromkeys([*(risk.get("categories") or []), "suicide"]))
    rule = {
        "rule": f"context.{kind}_after_ideation",
        "category": "suicide",
        "kind": kind,
        "severity": severity,
        "base_severity": severity,
        "built_on": base.message_id,
    }
    return {
        **risk,
        "severity": severity if rank(severity) > rank(current) else current,
        "categories": categories,
        "rules": [*(risk.get("rules") or []), rule],
        "context": {
            "message_id": base.message_id,
            "kind": kind,
            "earlier_severity": base.risk.get("severity"),
        },
    }


def in_context(
    events: Sequence[Mapping[str, Any]], risk: dict[str, Any], *, answering_screener: bool = False
) -> dict[str, Any]:
    """`assess_in_context` for the latest user message in a tracker's events (as dicts, the
    form both Rasa and the action server have). A screener answer is read as an answer: it
    keeps its own assessment and does not build on earlier turns."""
    from bot.safety.screener import parse_answer

    users = [e for e in events if e.get("event") == "user" and e.get("text")]
    if not users:
        return risk
    current = users[-1]
    text = str(current.get("text") or "")
    if answering_screener and parse_answer(text) is not None:
        return risk
    now = float(current.get("timestamp") or 0)
    earlier = [
        Turn(
            e.get("message_id"),
            dict((e.get("parse_data") or {}).get("risk") or {}),
            now - float(e.get("timestamp") or 0),
        )
        for e in users[:-1][-MAX_TURNS:]
    ]
    return assess_in_context(text, risk, earlier)


def takes_safety_path(risk: Mapping[str, Any], threshold: str) -> bool:
    """At or above the clinic's threshold; and suicide from low up when a rule says so (a
    lexicon rule or risk across turns), which the screener asks about even below the threshold.
    A `low` from the semantic layer alone is noted for the therapist but does not start the
    safety path: it marks where the layer is unsure, which on blind rounds included a fifth to a
    third of ordinary messages (tests/safety/README.md)."""
    severity = str(risk.get("severity") or "none")
    if at_least(severity, threshold):
        return True
    if not at_least(severity, "low"):
        return False
    return any(
        r.get("category") == "suicide" and r.get("kind") != "semantic" for r in risk.get("rules") or []
    )
