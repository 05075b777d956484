"""Greeting, first-contact onboarding and consent.

Onboarding says what Interlude is, who reads entries, that it is not an emergency service and
not watched around the clock, and gives crisis numbers. Then it asks for consent (the text and
its version are in clinic/consent.yml); the reply goes to action_answer_pending through
PendingQuestionPolicy. Until a patient agrees, nothing but the consent conversation is stored
(check-ins, journaling and notes wait), while risk messages are always handled and flagged.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    alert_state,
    call,
    clinic_alerts,
    current_patient,
    not_enrolled,
    remember_after_write,
    remembered,
    safety_vars,
)
from actions.conversation import ask_data_confirmation, record_data_request
from bot import runtime
from bot.checkins.saving import UNAVAILABLE
from bot.patients.consent import consent_text
from bot.patients.store import PatientRef
from bot.understanding import could_be_yes_no, intent_for, literal, yes_no

logger = logging.getLogger(__name__)

#: Below this confidence an affirm/deny from the classifier is not taken as the answer.
SURE = 0.6

CONSENT_BUTTONS = [
    {"title": "I agree", "payload": "/affirm"},
    {"title": "Not now", "payload": "/deny"},
]


async def ask_consent(dispatcher: CollectingDispatcher, patient: PatientRef) -> list[dict[str, Any]]:
    """The consent question; its sentence about risk is true to the clinic's alert channels."""
    text = consent_text(alerts=await alert_state(clinic_alerts, patient)).text
    dispatcher.utter_message(text=text, buttons=CONSENT_BUTTONS)
    return [SlotSet("pending_question", "consent")]


class ActionOnboarding(Action):
    def name(self) -> str:
        return "action_onboarding"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        if patient.onboarded:
            dispatcher.utter_message(response="utter_welcome_back")
        else:
            variables = safety_vars(patient, alerts=await alert_state(clinic_alerts, patient))
            dispatcher.utter_message(response="utter_onboarding_welcome")
            dispatcher.utter_message(response="utter_onboarding_privacy", **variables)
            dispatcher.utter_message(response="utter_onboarding_not_emergency", **variables)
            try:
                await call(runtime.store().patients.mark_onboarded, patient.ref)
                remember_after_write(patient, onboarded=True)
            except UNAVAILABLE:  # the database is away: the welcome is said again next time
                logger.warning("could not mark %s onboarded (database unavailable)", patient.ref)
        if not await remembered(runtime.store().patients.has_consented, patient.ref):
            return await ask_consent(dispatcher, patient)
        dispatcher.utter_message(response="utter_offer_checkin")
        return []


class ActionAnswerPending(Action):
    """The patient's reply to the question Interlude was waiting on: consent, or confirming a
    request for their data to be deleted or sent. Nothing said here is stored as an entry."""

    def name(self) -> str:
        return "action_answer_pending"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        text = message.get("text") or ""
        answer = yes_no(text) if not text.startswith("/") else None
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        # The classifier decides only when it is sure: "hmm let me see" (deny at 0.40) is asked
        # again, not taken as a no to the patient's own request.
        # A button payload ("/affirm") is the intent itself; typed words need a yes/no word.
        typed_yes_no = text.startswith("/") or could_be_yes_no(text)
        if answer is None and intent in ("affirm", "deny") and confidence >= SURE and typed_yes_no:
            answer = "yes" if intent == "affirm" else "no"
        question = tracker.get_slot("pending_question")
        if question in ("data_delete", "data_export"):
            if answer == "yes":
                await record_data_request(
                    dispatcher, patient, question, tracker.get_latest_input_channel() or "chat"
                )
            elif answer == "no":
                dispatcher.utter_message(response="utter_data_request_cancelled")
            else:
                # Not a yes or no: ask once more; whatever it was, it is not kept as an entry.
                dispatcher.utter_message(response="utter_data_request_unclear")
                return ask_data_confirmation(dispatcher, question)
            return [SlotSet("pending_question", None)]
        if answer == "yes":
            # The version names the wording shown for this clinic's configuration.
            version = consent_text(alerts=await alert_state(clinic_alerts, patient)).version
            await call(runtime.store().patients.record_consent, patient.ref, version)
            remember_after_write(patient, consented=True)
            dispatcher.utter_message(response="utter_consent_thanks")
            dispatcher.utter_message(response="utter_offer_checkin")
        elif answer == "no":
            dispatcher.utter_message(response="utter_consent_declined")
        else:
            # A question about the terms is answered before asking again.
            behaviour = literal(text)
            if behaviour == "bot_question" or intent == "ask_bot":
                dispatcher.utter_message(
                    response="utter_bot_answer",
                    **safety_vars(patient, alerts=await alert_state(clinic_alerts, patient)),
                )
            elif behaviour in ("privacy", "data_delete", "data_export") or intent == "ask_privacy":
                dispatcher.utter_message(response="utter_privacy")
            elif behaviour == "help" or intent == "help":
                dispatcher.utter_message(response="utter_help")
            elif intent == "ask_medical_advice":
                dispatcher.utter_message(response="utter_out_of_scope_medical")
            elif intent_for(text)[0] == "long_entry":
                # Writing, not an answer: say it was not kept (a patient's try: "did you keep
                # the dream thing I wrote?" was only ever asked for a yes or a no).
                dispatcher.utter_message(response="utter_consent_needed")
            else:
                dispatcher.utter_message(response="utter_consent_unclear")
            return await ask_consent(dispatcher, patient)
        return [SlotSet("pending_question", None)]
