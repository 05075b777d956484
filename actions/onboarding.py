"""Greeting and first-contact onboarding: what Interlude is, who reads it, crisis numbers."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import call, current_patient, not_enrolled, safety_vars
from bot import runtime


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
        dispatcher.utter_message(response="utter_offer_checkin")
        return []
