"""Clinician handoff: announce it, relay the clinician's words, announce the hand-back.

The messages arrive as external intents sent by bot/flags/handoff.py through Rasa's API; the
relayed text is a bot message marked as the clinician's, so it is part of the (encrypted)
transcript like everything else.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.screener import stop_for_handoff


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == name:
            return str(entity.get("value"))
    return None


class ActionHandoffStarted(Action):
    def name(self) -> str:
        return "action_handoff_started"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        clinician = _entity(tracker, "clinician_name") or "A member of your care team"
        # The metadata lets the web widget show a visible "a clinician has joined" notice.
        dispatcher.utter_message(
            response="utter_handoff_started", clinician=clinician, metadata={"handoff": "started"}
        )
        # The clinician leads: a screener in progress stops here, and a check-in in progress
        # waits with its answers kept (as after "not now"; "check in" resumes it later).
        paused = []
        if (tracker.active_loop or {}).get("name"):
            paused = [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("loop_exit", None)]
        return [SlotSet("handoff_active", True), *paused, *await stop_for_handoff(tracker)]


class ActionRelayClinicianMessage(Action):
    def name(self) -> str:
        return "action_relay_clinician_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = _entity(tracker, "clinician_text")
        if text:
            clinician = _entity(tracker, "clinician_name") or "Your care team"
            dispatcher.utter_message(text=f"{clinician}: {text}", metadata={"from": "clinician"})
        return []


class ActionHandoffEnded(Action):
    def name(self) -> str:
        return "action_handoff_ended"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        clinician = _entity(tracker, "clinician_name") or "Your care team"
        dispatcher.utter_message(
            response="utter_handoff_ended", clinician=clinician, metadata={"handoff": "ended"}
        )
        return [SlotSet("handoff_active", False)]
