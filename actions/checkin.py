"""The daily check-in: mood 0-10 and one line, stored encrypted for the therapist."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import call, current_patient, not_enrolled
from bot import runtime
from bot.checkins import save_checkin
from bot.prompts.answers import is_skip, is_stop_command, parse_scale
from bot.store.api import MAX_TEXT_CHARS

logger = logging.getLogger(__name__)

SKIPPED = "__skipped__"
CHECKIN_SLOTS = ("checkin_mood", "checkin_note")


class ActionStartCheckin(Action):
    """Start the check-in unless a high or critical flag is open (prompts wait for a human)."""

    def name(self) -> str:
        return "action_start_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            not_enrolled(dispatcher)
            return [SlotSet("checkin_allowed", False)]
        open_severity = await call(runtime.store().open_flag_severity, patient.ref)
        if open_severity in ("high", "critical"):
            dispatcher.utter_message(response="utter_checkin_held")
            return [SlotSet("checkin_allowed", False)]
        if any(tracker.get_slot(slot) is not None for slot in CHECKIN_SLOTS):
            dispatcher.utter_message(response="utter_checkin_resume")
        return [SlotSet("checkin_allowed", True), SlotSet("checkin_stopped", False)]


class ValidateDailyCheckinForm(FormValidationAction):
    def name(self) -> str:
        return "validate_daily_checkin_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        text = (tracker.latest_message or {}).get("text") or ""
        if requested and is_stop_command(text):
            # The command was captured as the answer: undo that, keep earlier answers, and end
            # the form; action_submit_checkin sees checkin_stopped and says so.
            return [
                SlotSet(requested, None),
                SlotSet("checkin_stopped", True),
                SlotSet("requested_slot", None),
            ]
        return await super().run(dispatcher, tracker, domain)

    def validate_checkin_mood(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        text = str(slot_value or "")
        if is_skip(text):
            return {"checkin_mood": SKIPPED}
        value = parse_scale(text)
        if value is None:
            dispatcher.utter_message(response="utter_mood_hint")
            return {"checkin_mood": None}
        return {"checkin_mood": str(value)}

    def validate_checkin_note(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        text = str(slot_value or "").strip()
        if is_skip(text):
            return {"checkin_note": SKIPPED}
        if not text:
            dispatcher.utter_message(response="utter_note_empty")
            return {"checkin_note": None}
        if len(text) > MAX_TEXT_CHARS:
            dispatcher.utter_message(response="utter_text_too_long", limit=f"{MAX_TEXT_CHARS:,}")
            return {"checkin_note": None}
        return {"checkin_note": text}


class ActionSubmitCheckin(Action):
    """Runs whenever the check-in form ends: saves a finished check-in, or confirms a stop."""

    def name(self) -> str:
        return "action_submit_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("checkin_stopped"):
            dispatcher.utter_message(response="utter_checkin_stopped")
            return [SlotSet("checkin_stopped", False)]
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        mood_raw = tracker.get_slot("checkin_mood")
        note_raw = tracker.get_slot("checkin_note")
        mood = None if mood_raw in (None, SKIPPED) else float(mood_raw)
        note = None if note_raw in (None, SKIPPED) else str(note_raw)
        try:
            result = await call(
                save_checkin,
                runtime.store(),
                runtime.spool(),
                patient.ref,
                "daily",
                [("mood", None, mood), ("note", note, None)],
            )
        except Exception as exc:
            # Not an outage (that spools): keep the answers in the slots and say so.
            logger.error("could not save a check-in for %s (%s)", patient.ref, type(exc).__name__)
            dispatcher.utter_message(response="utter_checkin_not_saved")
            return []
        if not result.saved:
            dispatcher.utter_message(response="utter_checkin_queued")
        elif mood is None:
            dispatcher.utter_message(response="utter_checkin_saved_no_mood")
        else:
            dispatcher.utter_message(response="utter_checkin_saved", mood=f"{mood:g}")
        return [
            SlotSet("checkin_mood", None),
            SlotSet("checkin_note", None),
            SlotSet("checkin_allowed", None),
        ]
