"""Where an open check-in stands, read from the tracker's slots.

Its own module because the check-in, the reminder commands and the data requests all read and
clear it, and the check-in imports the other two.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import call
from bot import runtime
from bot.checkins.saving import SaveResult, save_checkin
from bot.patients.store import PatientRef
from bot.prompts.sets import PromptSet, default_catalogue
from bot.store.errors import MAX_TEXT_CHARS

#: The slots that hold an open check-in; clearing them all ends it.
LOOP_SLOTS = (
    "prompt_set",
    "prompt_index",
    "prompt_answers",
    "prompt_retries",
    "answer_risk",
    "loop_exit",
)


def checkin_state(tracker: Tracker) -> tuple[PromptSet | None, int, list[dict]]:
    """The open prompt set (None when no check-in is open), the index of its next prompt and the
    answers given so far."""
    set_id = tracker.get_slot("prompt_set")
    if not set_id:
        return None, 0, []
    try:
        prompt_set = default_catalogue().get(set_id)
    except Exception:
        return None, 0, []
    return (
        prompt_set,
        int(tracker.get_slot("prompt_index") or 0),
        list(tracker.get_slot("prompt_answers") or []),
    )


async def save_answers(
    patient: PatientRef, set_id: str, answers: list[dict], instrument: Any = None, status: str = "completed"
) -> SaveResult:
    """Save answers as the slots hold them (held in the outage spool if the database is away)."""
    rows = [(a["key"], a.get("text"), a.get("value")) for a in answers]
    return await call(
        save_checkin, runtime.store().checkins, runtime.spool(), patient.ref, set_id, rows, instrument, status
    )


async def save_stopped(tracker: Tracker, patient: PatientRef) -> bool:
    """Save what an open or paused check-in has answered so far, as a stopped check-in (the
    way "stop for today", "no more check-ins today" and switching to other writing end one).
    Questionnaires are never saved half done: their score needs every item. Returns whether
    anything was saved (or held in the outage spool)."""
    prompt_set, _index, answers = checkin_state(tracker)
    if prompt_set is None or not answers or prompt_set.instrument:
        return False
    await save_answers(patient, prompt_set.id, answers, None, "stopped")
    return True


async def keep_writing(
    dispatcher: CollectingDispatcher, patient: PatientRef, set_id: str, key: str, text: str, kept: str
) -> None:
    """Keep one piece of the patient's writing as an entry of `set_id` (a journal entry, a note
    for the therapist) and say so with the `kept` response, or that it is held for now."""
    if len(text) > MAX_TEXT_CHARS:
        dispatcher.utter_message(response="utter_text_too_long", limit=f"{MAX_TEXT_CHARS:,}")
        return
    result = await save_answers(patient, set_id, [{"key": key, "text": text, "value": None}])
    dispatcher.utter_message(response=kept if result.saved else "utter_checkin_queued")
