"""Stored answers as a clinician reads them: the question's words, the answer's words, the score.

Pure functions over the prompt catalogue (clinic/prompts/), so the portal, its tests and the
session-prep PDF say the same thing. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.prompts.sets import Catalogue, Prompt

#: The item whose answer above 0 starts the safety path (bot.prompts.sets RISKS).
ITEM9_RISK = "phq9_item9"


@dataclass(frozen=True)
class AnswerView:
    key: str
    question: str
    answer: str  # in words: "More than half the days", "6 of 10", the patient's text
    score: int | None = None  # a choice's value (PHQ-9/GAD-7 item score)
    skipped: bool = False
    risk: bool = False  # PHQ-9 item 9 above 0: marked wherever it is shown


def words(prompt: Prompt | None, value: float | None, text: str | None) -> str:
    """One answer in words, by the prompt's type; numbers as given when the set has changed."""
    if value is None:
        return text or "skipped"
    if prompt is not None and prompt.type == "choice":
        label = next((o.label for o in prompt.options if o.value == int(value)), None)
        return label if label is not None else f"{value:g}"
    if prompt is not None and prompt.type == "yes_no":
        return "Yes" if value else "No"
    if prompt is not None and prompt.type == "scale":
        return f"{value:g} of {prompt.max}"
    return f"{value:g}" + (f" {text}" if text else "")


def answer_view(
    catalogue: Catalogue, set_id: str, key: str, value: float | None, text: str | None
) -> AnswerView:
    prompt = catalogue.find(set_id, key)
    choice = prompt is not None and prompt.type == "choice" and value is not None
    return AnswerView(
        key=key,
        question=catalogue.question(set_id, key),
        answer=words(prompt, value, text),
        score=int(value) if choice else None,
        skipped=value is None and not text,
        risk=prompt is not None and prompt.risk == ITEM9_RISK and value is not None and value > 0,
    )


def answer_views(catalogue: Catalogue, set_id: str, answers: Iterable[Mapping[str, Any]]) -> list[AnswerView]:
    """A check-in's answers ({key, value, text} as the store returns them), in order."""
    return [answer_view(catalogue, set_id, a["key"], a.get("value"), a.get("text")) for a in answers]


def instrument_items(catalogue: Catalogue, instrument: str, items: Sequence[int]) -> list[AnswerView]:
    """A scored PHQ-9/GAD-7's item answers (0..3, in order) as question, words and score."""
    ps = catalogue.for_instrument(instrument)
    if ps is None:
        return [AnswerView(f"item{i}", f"Item {i}", str(v), v) for i, v in enumerate(items, 1)]
    return [
        answer_view(catalogue, ps.id, p.key, float(v), None) for p, v in zip(ps.prompts, items, strict=False)
    ]


def item9_above_zero(instrument: str, items: Sequence[int]) -> int | None:
    """PHQ-9 item 9's answer when above 0 (thoughts of self-harm), else None."""
    if instrument != "phq9" or len(items) < 9 or items[8] <= 0:
        return None
    return int(items[8])


def item9_answer(catalogue: Catalogue, value: int) -> str:
    """PHQ-9 item 9's answer in words ("Several days")."""
    ps = catalogue.for_instrument("phq9")
    prompt = ps.prompts[8] if ps is not None and len(ps.prompts) >= 9 else None
    return words(prompt, float(value), None)
