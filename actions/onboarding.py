"""Greeting, first-contact onboarding and consent.

Onboarding says what Interlude is, who reads entries, that it is not an emergency service and
not watched around the clock, and gives crisis numbers. Then it asks for consent (the text and
its version are in data/consent.yml); the reply goes to action_answer_pending through
PendingQuestionPolicy. Until a patient agrees, nothing but the consent conversation is stored
(check-ins, journaling and notes wait), while risk messages are always handled and flagged.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import call, current_patient, not_enrolled, safety_vars
from bot import runtime
from bot.consent import consent_text

CONSENT_BUTTONS = [
    {"title": "I agree", "payload": "/affirm"},
    {"title": "Not now", "payload": "/deny"},
]


def ask_consent(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    dispatcher.utter_message(text=consent_text().text, buttons=CONSENT_BUTTONS)
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
            variables = safety_vars(patient)
            dispatcher.utter_message(response="utter_onboarding_welcome")
            dispatcher.utter_message(response="utter_onboarding_privacy", **variables)
            dispatcher.utter_message(response="utter_onboarding_not_emergency", **variables)
            await call(runtime.store().mark_onboarded, patient.ref)
        if not await call(runtime.store().has_consented, patient.ref):
            return ask_consent(dispatcher)
        dispatcher.utter_message(response="utter_offer_checkin")
        return []


class ActionAnswerPending(Action):
    """The patient's reply to the question Interlude was waiting on (consent)."""

    def name(self) -> str:
        return "action_answer_pending"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent == "affirm":
            await call(runtime.store().record_consent, patient.ref, consent_text().version)
            dispatcher.utter_message(response="utter_consent_thanks")
            dispatcher.utter_message(response="utter_offer_checkin")
        elif intent == "deny":
            dispatcher.utter_message(response="utter_consent_declined")
        else:
            dispatcher.utter_message(response="utter_consent_unclear")
            return ask_consent(dispatcher)
        return [SlotSet("pending_question", None)]
