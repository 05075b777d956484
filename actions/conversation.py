"""What a patient asks outside the check-in questions (issue 16): is this a bot, their data
deleted or sent, a word with their therapist, a long entry written without a prompt, stopping a
paused check-in. Thin adapters over the store (bot.store.requests) and bot.checkins.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.checkin_state import LOOP_SLOTS, checkin_state, keep_writing, save_stopped
from actions.common import (
    alert_state,
    call,
    clinic_alerts,
    current_patient,
    not_enrolled,
    remembered,
    safety_vars,
)
from bot import runtime
from bot.patients.requests import DAYS_TO_ACT
from bot.patients.store import PatientRef
from bot.understanding import is_long_entry

logger = logging.getLogger(__name__)

DATA_INTENTS = {"request_data_delete": "data_delete", "request_data_export": "data_export"}
CONFIRM = {"data_delete": "utter_confirm_data_delete", "data_export": "utter_confirm_data_export"}
REQUESTED = {"delete": "utter_data_delete_requested", "export": "utter_data_export_requested"}


def ask_data_confirmation(dispatcher: CollectingDispatcher, question: str) -> list[dict[str, Any]]:
    """Ask before recording a data request; the reply goes to action_answer_pending."""
    dispatcher.utter_message(response=CONFIRM[question])
    return [SlotSet("pending_question", question)]


async def record_data_request(
    dispatcher: CollectingDispatcher, patient: PatientRef, question: str, origin: str
) -> None:
    kind = "delete" if question == "data_delete" else "export"
    await call(runtime.store().requests.record_patient_request, patient.ref, kind, origin=origin)
    dispatcher.utter_message(response=REQUESTED[kind], days=str(DAYS_TO_ACT[kind]))


async def record_contact_request(dispatcher: CollectingDispatcher, patient: PatientRef, origin: str) -> None:
    await call(runtime.store().requests.record_patient_request, patient.ref, "contact", origin=origin)
    dispatcher.utter_message(response="utter_contact_requested", days=str(DAYS_TO_ACT["contact"]))


class ActionDataRequest(Action):
    def name(self) -> str:
        return "action_data_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if await current_patient(tracker) is None:
            return not_enrolled(dispatcher)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""
        return ask_data_confirmation(dispatcher, DATA_INTENTS.get(intent, "data_export"))


class ActionContactRequest(Action):
    def name(self) -> str:
        return "action_contact_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        await record_contact_request(dispatcher, patient, tracker.get_latest_input_channel() or "chat")
        return []


class ActionBotAnswer(Action):
    def name(self) -> str:
        return "action_bot_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        dispatcher.utter_message(
            response="utter_bot_answer",
            **safety_vars(patient, alerts=await alert_state(clinic_alerts, patient)),
        )
        return []


class ActionOutsideText(Action):
    """Words outside any check-in: a long paragraph is kept as a journal entry (and the patient
    is told); a short line gets the invitation to check in."""

    def name(self) -> str:
        return "action_outside_text"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        if not is_long_entry(text):
            dispatcher.utter_message(response="utter_inform_outside_checkin")
            return []
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        if not await remembered(runtime.store().patients.has_consented, patient.ref):
            dispatcher.utter_message(response="utter_consent_needed")
            return []
        await keep_writing(dispatcher, patient, "journal", "entry", text, "utter_kept_as_journal")
        return []


class ActionStopOutside(Action):
    """ "Stop for today" with no questions open: a paused check-in is saved as it stands."""

    def name(self) -> str:
        return "action_stop_outside"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:

        prompt_set, _index, answers = checkin_state(tracker)
        if prompt_set is None or not answers or prompt_set.instrument:
            dispatcher.utter_message(response="utter_nothing_to_stop")
            return [SlotSet(slot, None) for slot in LOOP_SLOTS] if prompt_set is not None else []
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        await save_stopped(tracker, patient)
        dispatcher.utter_message(response="utter_checkin_stopped_saved")
        return [SlotSet(slot, None) for slot in LOOP_SLOTS]
