"""A new Rasa session that forgets the old one's events but not where the patient was.

Sessions end after domain.yml's `session_expiration_time`, so a message costs the same on day
90 as on day 1 (the tracker store loads only the current session). Rasa's own session start
would re-send every slot event of the old session and drop an active check-in; this one
carries each slot's last value (check-in progress, a pending consent question, a paused
check-in, an open handoff, a pending safety follow-up) and the check-in form if one was open,
so the patient's next message continues exactly where they left off.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

# Rasa's own bookkeeping slots: the metadata is the new session's, requested_slot follows the loop.
NOT_CARRIED = {"session_started_metadata", "requested_slot"}


def carried_over(slots: dict[str, Any], active_loop: str | None) -> list[dict[str, Any]]:
    """The events that put the last session's state into a new one."""
    events = [
        SlotSet(name, value) for name, value in slots.items() if name not in NOT_CARRIED and value is not None
    ]
    if active_loop:
        events += [ActiveLoop(active_loop), SlotSet("requested_slot", slots.get("requested_slot"))]
    return events


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata")
        if metadata:
            events.append(SlotSet("session_started_metadata", metadata))
        events += carried_over(dict(tracker.slots), (tracker.active_loop or {}).get("name"))
        events.append(ActionExecuted("action_listen"))
        return events
