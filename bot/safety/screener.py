"""The C-SSRS screener (screen version) as a chat conversation: order, branching, triage.

Plain Python, no Rasa: the Rasa side (actions/screener.py) keeps the state in a slot and asks
what `next_question` returns. The wording is clinic-editable in clinic/safety/screener.yml; the
order and the triage are here because they are the instrument (Posner et al. 2011, Columbia
Lighthouse Project), not wording.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from bot.config import CLINIC_DIR
from bot.safety.assessment import rank
from bot.yamlfile import read_yaml

DEFAULT_SCREENER = CLINIC_DIR / "safety" / "screener.yml"

QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6", "q6_recent")
YES, NO, DECLINED = "yes", "no", "declined"
#: Not asked again within this window unless a higher signal arrives.
REASK_AFTER = timedelta(hours=24)
#: Categories whose flags lead to the screener (PHQ-9 item 9 is recorded as suicide).
SCREENED_CATEGORIES = frozenset({"suicide"})


class ScreenerError(Exception):
    pass


@dataclass(frozen=True)
class Wording:
    intro: str
    questions: Mapping[str, str]
    buttons: Mapping[str, str]
    hint: str
    declined: str
    thanks: str


@lru_cache(maxsize=4)
def wording(path: Path = DEFAULT_SCREENER) -> Wording:
    data = read_yaml(path, ScreenerError)
    try:
        questions = {q: str(data["questions"][q]).strip() for q in QUESTIONS}
        buttons = {k: str(data["buttons"][k]).strip() for k in (YES, NO, DECLINED)}
        out = Wording(
            str(data["intro"]).strip(),
            questions,
            buttons,
            str(data["hint"]).strip(),
            str(data["declined"]).strip(),
            str(data["thanks"]).strip(),
        )
    except (KeyError, TypeError) as exc:
        raise ScreenerError(
            f"{path} needs intro, questions q1-q6 and q6_recent, buttons, hint, declined, thanks ({exc})."
        ) from None
    if not all(questions.values()):
        raise ScreenerError(f"{path}: every question needs wording.")
    return out


def buttons(path: Path = DEFAULT_SCREENER) -> list[dict[str, str]]:
    """Yes / No / I'd rather not say. Payloads are plain words, so every channel sends text
    that `parse_answer` reads the same way as a typed answer."""
    w = wording(path)
    return [{"title": w.buttons[k], "payload": w.buttons[k]} for k in (YES, NO, DECLINED)]


# ---------------------------------------------------------------------------- answers

_YES_WORDS = (
    "yes",
    "yeah",
    "yep",
    "yup",
    "y",
    "ya",
    "yah",
    "yea",
    "sure",
    "i have",
    "i did",
    "correct",
    "true",
)
_NO_WORDS = ("no", "nope", "nah", "n", "not really", "never", "i haven't", "i have not", "i didn't", "none")
_DECLINE_WORDS = (
    "rather not say",
    "i'd rather not say",
    "id rather not say",
    "i would rather not say",
    "rather not",
    "skip",
    "pass",
    "prefer not to say",
    "i'd rather not",
    "don't want to answer",
    "dont want to answer",
    "not answering",
)
_PAYLOADS = {"/affirm": YES, "/deny": NO}


def _norm(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(.)\1{2,}", r"\1\1", text)  # "yesss" -> "yess", "noooo" -> "noo"
    return re.sub(r"\s+", " ", text).strip()


def _close(word: str, vocabulary: tuple[str, ...]) -> bool:
    """Exact, or a typo of a vocabulary entry with the same first letter ("yse", "noo", "skp")."""
    if word in vocabulary:
        return True
    if len(word) < 2:
        return False
    cutoff = 0.66 if len(word) <= 4 else 0.8  # one slip in a short word, fewer in a phrase
    return any(
        v[0] == word[0] and difflib.SequenceMatcher(None, word, v).ratio() >= cutoff
        for v in vocabulary
        if len(v) >= 2
    )


def parse_answer(text: str | None) -> str | None:
    """yes / no / declined from a button or a typed answer (typos and punctuation forgiven);
    None when it is not an answer."""
    if not text:
        return None
    raw = text.strip().lower()
    if raw in _PAYLOADS:
        return _PAYLOADS[raw]
    norm = _norm(text)
    if not norm:
        return None
    # Declining first: "I'd rather not" contains "not", which must not read as a no.
    if any(phrase in norm for phrase in _DECLINE_WORDS if " " in phrase) or _close(norm, _DECLINE_WORDS):
        return DECLINED
    words = norm.split()
    if norm in ("no", "not really", "not at all", "no never") or norm.startswith(
        ("not really", "no ", "nope")
    ):
        return NO
    if _close(norm, _NO_WORDS) or (words and words[0] in ("no", "nope", "nah", "noo", "nop", "nay")):
        return NO
    if _close(norm, _YES_WORDS) or (words and _close(words[0], ("yes", "yeah", "yep", "yup"))):
        return YES
    return None


# ---------------------------------------------------------------------------- order and triage


def next_question(answers: Mapping[str, str]) -> str | None:
    """The next question to ask, or None when the screener is finished (or declined)."""
    if DECLINED in answers.values():
        return None
    for q in ("q1", "q2"):
        if q not in answers:
            return q
    if answers["q2"] == YES:
        for q in ("q3", "q4", "q5"):
            if q not in answers:
                return q
    if "q6" not in answers:
        return "q6"
    if answers["q6"] == YES and "q6_recent" not in answers:
        return "q6_recent"
    return None


def triage(answers: Mapping[str, str]) -> str:
    """The screener's own triage, in Interlude's severities: a yes to intent (q4), plan (q5) or
    behaviour in the past 3 months -> critical; a yes to method (q3), or behaviour longer ago
    (the screener's moderate band, with q3) -> high; a yes to q1 or q2 only -> moderate; else none."""

    def yes(q: str) -> bool:
        return answers.get(q) == YES

    if yes("q4") or yes("q5") or (yes("q6") and yes("q6_recent")):
        return "critical"
    if yes("q3") or yes("q6"):
        return "high"
    if yes("q1") or yes("q2"):
        return "moderate"
    return "none"


def status(answers: Mapping[str, str]) -> str:
    if DECLINED in answers.values():
        return "declined"
    return "completed" if next_question(answers) is None else "in_progress"


def should_offer(
    *,
    severity: str,
    categories: list[str] | tuple[str, ...],
    handoff_active: bool,
    recent_level: str | None,
) -> bool:
    """Whether a signal leads to the screener: suicide at any level from low up; never while a
    clinician has the conversation; not again within REASK_AFTER (the caller passes the highest
    level a screener reached or was asked for in that window) unless this signal is higher."""
    if handoff_active or rank(severity) < rank("low"):
        return False
    if not SCREENED_CATEGORIES.intersection(categories):
        return False
    return recent_level is None or rank(severity) > rank(recent_level)


def summary(answers: Mapping[str, str], path: Path = DEFAULT_SCREENER) -> list[tuple[str, str, str]]:
    """(question id, question wording, answer) in the order asked, for the portal and PDF."""
    w = wording(path)
    return [(q, w.questions[q], answers[q]) for q in QUESTIONS if q in answers]


def window_start(now: datetime) -> datetime:
    return now - REASK_AFTER
